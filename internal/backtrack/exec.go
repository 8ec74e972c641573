// The search follows Go's regexp/backtrack.go, which carries this notice:
//
// Copyright 2015 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package backtrack

import (
	"bytes"
	"math/bits"
	"regexp/syntax"
	"unicode/utf8"
)

// A job is a way of going on that the search left behind: the other branch
// of an opAlt, a capture slot to restore, the next run of a loop.
type job struct {
	pc    uint32
	pos   int // the position; for opCapture, the slot's previous value
	floor int // opGreedy: where the loop's runs begin
}

// maxKeptJobs bounds the job stack a Machine keeps between searches: a
// rare search that needed more does not hold on to its memory.
const maxKeptJobs = 1 << 14

// A Machine holds the scratch space of searches, which it keeps from one to
// the next. The zero Machine is ready to use with any Regexp. A Machine is
// not safe for concurrent use.
type Machine struct {
	jobs    []job
	visited []uint64 // one row of len(input)+1 bits per marked instruction
	caps    []int
}

// FindSubmatchIndex returns what regexp.Regexp.FindSubmatchIndex returns
// for re and input: the positions of the leftmost match and of its
// subexpressions (-1 for one that took no part), appended to dst[:0], or
// nil when nothing matches. For an input longer than re.MaxInputLen() it
// returns ErrInputTooLong without searching.
func (m *Machine) FindSubmatchIndex(re *Regexp, input []byte, dst []int) ([]int, error) {
	if re.never {
		return nil, nil
	}
	if len(input) > re.maxInputLen {
		return nil, ErrInputTooLong
	}
	m.reset(re, len(input))
	found := m.search(re, input)
	if cap(m.jobs) > maxKeptJobs {
		m.jobs = nil
	}
	if !found {
		return nil, nil
	}
	dst = append(dst[:0], m.caps...)
	for len(dst) < 2*(1+re.numSubexp) {
		dst = append(dst, -1)
	}
	return dst, nil
}

func (m *Machine) reset(re *Regexp, n int) {
	words := (re.rows*(n+1) + 63) / 64
	if cap(m.visited) < words {
		m.visited = make([]uint64, words)
	} else {
		m.visited = m.visited[:words]
		clear(m.visited)
	}
	if cap(m.caps) < re.numCap {
		m.caps = make([]int, re.numCap)
	}
	m.caps = m.caps[:re.numCap]
	for i := range m.caps {
		m.caps[i] = -1
	}
}

// search tries each start position in turn, as regexp does, leaving the
// visited bitmap as it is between them: a state explored from an earlier
// start failed and fails again.
func (m *Machine) search(re *Regexp, in []byte) bool {
	for pos := 0; ; {
		if !re.anchored {
			switch {
			case len(re.prefixBytes) > 0:
				i := bytes.Index(in[pos:], re.prefixBytes)
				if i < 0 {
					return false
				}
				pos += i
			case re.startMay != nil:
				var ok bool
				if pos, ok = skipStarts(re.startMay, in, pos); !ok {
					return false
				}
			}
		}
		m.caps[0] = pos
		if m.try(re, in, pos) {
			return true
		}
		if re.anchored || pos >= len(in) {
			return false
		}
		pos += runeLen(in, pos)
	}
}

// skipStarts returns the first start position from pos on where a match
// may begin, stepping over whole runes as regexp does, and false when there
// is none.
func skipStarts(may *byteTable, in []byte, pos int) (int, bool) {
	for pos < len(in) {
		if may[in[pos]] {
			return pos, true
		}
		pos += runeLen(in, pos)
	}
	return pos, may[atEnd]
}

// try runs the search for a match starting at pos.
func (m *Machine) try(re *Regexp, in []byte, pos int) bool {
	prog := re.insts
	n := len(in)
	stride := n + 1
	vis := m.visited
	caps := m.caps
	jobs := m.jobs[:0]
	pc := re.start
	var ok bool
	for {
	run:
		for {
			ip := &prog[pc]
			if ip.row >= 0 && !visit(vis, int(ip.row)*stride+pos) {
				break run
			}
			switch ip.op {
			case opMatch:
				caps[1] = pos
				m.jobs = jobs
				return true
			case opFail:
				break run
			case opLiteral:
				if len(ip.lit) == 1 {
					if pos >= n || in[pos] != ip.lit[0] {
						break run
					}
					pos++
					break
				}
				if n-pos < len(ip.lit) || string(in[pos:pos+len(ip.lit)]) != ip.lit {
					break run
				}
				pos += len(ip.lit)
			case opClass:
				next, ok := stepRune(ip.class, in, pos)
				if !ok {
					break run
				}
				pos = next
			case opAlt:
				c := byteAt(in, pos)
				switch out, arg := ip.outMay[c], ip.argMay[c]; {
				case out && arg:
					jobs = append(jobs, job{pc: pc, pos: pos})
				case arg:
					pc = ip.arg
					continue
				case !out:
					break run
				}
			case opCapture:
				jobs = append(jobs, job{pc: pc, pos: caps[ip.arg]})
				caps[ip.arg] = pos
			case opEmpty:
				if !emptyOK(syntax.EmptyOp(ip.arg), in, pos) {
					break run
				}
			case opRepeat:
				end, ok := repeatRun(ip.class, in, pos, int(ip.min), int(ip.max))
				if !ok {
					break run
				}
				pos = end
			case opPossessive:
				if ip.min > 0 {
					if pos, ok = leadingRunes(ip.class, in, pos, int(ip.min)); !ok {
						break run
					}
				}
				base := int(ip.runRow) * stride
				end, visited, multibyte := scanRun(ip.class, vis, base, in, pos)
				markRun(vis, base, in, pos, end, multibyte)
				if visited {
					// The continuation was tried after this run.
					break run
				}
				pos = end
			case opGreedy:
				if ip.min > 0 {
					if pos, ok = leadingRunes(ip.class, in, pos, int(ip.min)); !ok {
						break run
					}
				}
				base := int(ip.runRow) * stride
				end, visited, multibyte := scanRun(ip.class, vis, base, in, pos)
				if visited && end == pos {
					break run
				}
				markRun(vis, base, in, pos, end, multibyte)
				if visited {
					// The runs from end on were tried: Go's backtracker
					// stops there too.
					end = prevBoundary(in, pos, end)
				}
				q, ok := lastCandidate(ip.outMay, in, pos, end)
				if !ok {
					break run
				}
				if q > pos {
					jobs = append(jobs, job{pc: pc, pos: q, floor: pos})
				}
				pos = q
			case opLazy:
				if ip.min > 0 {
					if pos, ok = leadingRunes(ip.class, in, pos, int(ip.min)); !ok {
						break run
					}
				}
				base := int(ip.runRow) * stride
				if !visit(vis, base+pos) {
					break run
				}
				q, ok := nextCandidate(ip, vis, base, in, pos)
				if !ok {
					break run
				}
				jobs = append(jobs, job{pc: pc, pos: q})
				pos = q
			}
			pc = ip.out
		}
	pop:
		for {
			if len(jobs) == 0 {
				m.jobs = jobs
				return false
			}
			j := jobs[len(jobs)-1]
			jobs = jobs[:len(jobs)-1]
			ip := &prog[j.pc]
			switch ip.op {
			case opCapture:
				caps[ip.arg] = j.pos
			case opAlt:
				pc, pos = ip.arg, j.pos
				break pop
			case opGreedy:
				q, ok := lastCandidate(ip.outMay, in, j.floor, prevBoundary(in, j.floor, j.pos))
				if !ok {
					continue
				}
				if q > j.floor {
					jobs = append(jobs, job{pc: j.pc, pos: q, floor: j.floor})
				}
				pc, pos = ip.out, q
				break pop
			case opLazy:
				base := int(ip.runRow) * stride
				q, ok := stepRune(ip.class, in, j.pos)
				if !ok || !visit(vis, base+q) {
					continue
				}
				if q, ok = nextCandidate(ip, vis, base, in, q); !ok {
					continue
				}
				jobs = append(jobs, job{pc: j.pc, pos: q})
				pc, pos = ip.out, q
				break pop
			}
		}
	}
}

// lastCandidate returns the last position from q down to floor, stepping
// back over the runes of a greedy loop's run, where the loop's
// continuation may match.
func lastCandidate(may *byteTable, in []byte, floor, q int) (int, bool) {
	for !may[byteAt(in, q)] {
		if q <= floor {
			return 0, false
		}
		q = prevBoundary(in, floor, q)
	}
	return q, true
}

// nextCandidate returns the first position from q on, stepping over runes
// of a lazy loop's class and marking each position reached, where the
// loop's continuation may match.
func nextCandidate(ip *inst, vis []uint64, base int, in []byte, q int) (int, bool) {
	for !ip.outMay[byteAt(in, q)] {
		var ok bool
		if q, ok = stepRune(ip.class, in, q); !ok || !visit(vis, base+q) {
			return 0, false
		}
	}
	return q, true
}

// leadingRunes returns the position after the n runes of cl from pos, if
// they are there.
func leadingRunes(cl *runeClass, in []byte, pos, n int) (int, bool) {
	for range n {
		var ok bool
		if pos, ok = stepRune(cl, in, pos); !ok {
			return 0, false
		}
	}
	return pos, true
}

// repeatRun returns the position after the longest run of at least least
// and at most most runes of cl from pos.
func repeatRun(cl *runeClass, in []byte, pos, least, most int) (int, bool) {
	for i := range most {
		if pos < len(in) && cl.ascii[in[pos]] {
			pos++
			continue
		}
		next, ok := stepRune(cl, in, pos)
		if !ok {
			return pos, i >= least
		}
		pos = next
	}
	return pos, true
}

// scanRun follows the run of class cl from pos to where it ends: the first
// position that does not begin a rune of the class, or the first of its
// positions already marked in the bitmap row at base (visited). multibyte
// reports that the run holds a rune of more than one byte.
//
// It reads the row a word at a time and compares the bytes in between
// against the class's table, which is what makes a loop cheap.
func scanRun(cl *runeClass, vis []uint64, base int, in []byte, pos int) (end int, visited, multibyte bool) {
	n := len(in)
	for {
		b := uint(base + pos)
		word := vis[b>>6] >> (b & 63)
		stop := pos + 64 - int(b&63) // the positions the word covers
		marked := word != 0
		if marked {
			stop = pos + bits.TrailingZeros64(word)
		}
		lim := min(stop, n)
		for pos < lim && cl.ascii[in[pos]] {
			pos++
		}
		switch {
		case pos < lim:
			if in[pos] < utf8.RuneSelf {
				return pos, false, multibyte
			}
			r, w := utf8.DecodeRune(in[pos:])
			if !cl.matchRune(r) {
				return pos, false, multibyte
			}
			// A mark inside the rune is another run's: positions are
			// those of runes decoded from pos.
			pos += w
			multibyte = true
		case pos == stop && marked:
			return pos, true, multibyte
		case pos == n && n < stop:
			return n, false, multibyte
		}
	}
}

// markRun marks the positions of the run from from to to (included) in the
// bitmap row at base.
func markRun(vis []uint64, base int, in []byte, from, to int, multibyte bool) {
	if !multibyte {
		setBits(vis, base+from, base+to+1)
		return
	}
	for pos := from; ; pos += runeLen(in, pos) {
		b := base + pos
		vis[b>>6] |= 1 << (uint(b) & 63)
		if pos >= to {
			return
		}
	}
}

// setBits sets the bits from lo to hi (excluded), hi > lo.
func setBits(vis []uint64, lo, hi int) {
	first, last := lo>>6, (hi-1)>>6
	loMask := ^uint64(0) << (uint(lo) & 63)
	hiMask := ^uint64(0) >> (63 - uint(hi-1)&63)
	if first == last {
		vis[first] |= loMask & hiMask
		return
	}
	vis[first] |= loMask
	for w := first + 1; w < last; w++ {
		vis[w] = ^uint64(0)
	}
	vis[last] |= hiMask
}

// visit marks bit b and reports whether it was clear.
func visit(vis []uint64, b int) bool {
	w, bit := b>>6, uint64(1)<<(uint(b)&63)
	if vis[w]&bit != 0 {
		return false
	}
	vis[w] |= bit
	return true
}

// stepRune returns the position after the rune at pos if it is in cl.
func stepRune(cl *runeClass, in []byte, pos int) (int, bool) {
	if pos >= len(in) {
		return 0, false
	}
	if c := in[pos]; c < utf8.RuneSelf {
		return pos + 1, cl.ascii[c]
	}
	r, w := utf8.DecodeRune(in[pos:])
	return pos + w, cl.matchRune(r)
}

// runeLen returns the length of the rune at pos < len(in), an invalid
// byte counting as a rune of one byte, as regexp reads input.
func runeLen(in []byte, pos int) int {
	if in[pos] < utf8.RuneSelf {
		return 1
	}
	_, w := utf8.DecodeRune(in[pos:])
	return w
}

// prevBoundary returns the start of the rune that ends at q > floor, where
// the runes are those decoded from floor on.
//
// Decoding backwards within in[floor:q] finds the runes decoding forwards
// from floor found: a valid multi-byte rune is found whole either way, and
// an invalid byte decoded forwards as one byte cannot be the end of a valid
// rune starting at or after floor (its first byte would have been a rune
// boundary forwards, decoding that rune, or inside a valid rune, where
// every byte but the first is a continuation byte).
func prevBoundary(in []byte, floor, q int) int {
	if in[q-1] < utf8.RuneSelf {
		return q - 1
	}
	_, w := utf8.DecodeLastRune(in[floor:q])
	return q - w
}

// byteAt returns the byte at pos, or atEnd at the end of the input, as an
// index into a byteTable.
func byteAt(in []byte, pos int) int {
	if pos < len(in) {
		return int(in[pos])
	}
	return atEnd
}

// emptyOK reports whether the empty-width assertions op hold at pos. Only
// ASCII runes are word characters or newlines, so the bytes on either side
// decide, as the runes regexp decodes there do.
func emptyOK(op syntax.EmptyOp, in []byte, pos int) bool {
	before, after := rune(-1), rune(-1)
	if pos > 0 {
		before = asciiOrError(in[pos-1])
	}
	if pos < len(in) {
		after = asciiOrError(in[pos])
	}
	return syntax.EmptyOpContext(before, after)&op == op
}

func asciiOrError(c byte) rune {
	if c < utf8.RuneSelf {
		return rune(c)
	}
	return utf8.RuneError
}
