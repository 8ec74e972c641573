package backtrack

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"slices"
	"unicode/utf8"
)

// An opcode is what an instruction of the matcher's program does.
type opcode uint8

const (
	opFail opcode = iota
	opMatch
	opLiteral // the bytes lit
	opClass   // one rune of class
	opAlt     // out, and when it fails, arg
	opCapture // records the position in capture slot arg
	opEmpty   // the empty-width assertion syntax.EmptyOp(arg)
	// The loops stand for Go's greedy or lazy star over class, an InstAlt
	// whose one branch is a rune instruction leading back to it, after min
	// runes of class (a plus is a rune instruction and a star).
	opPossessive // the longest run of class, then out
	opGreedy     // the longest run of class, then shorter ones, each then out
	opLazy       // the shortest run of class, then longer ones, each then out
	// opRepeat stands for min runes of class and the chain of greedy
	// quests regexp/syntax.Simplify makes of a bounded repetition
	// ("x{1,3}" is "x(?:x(?:x)?)?"): the longest run of up to max runes,
	// then out, nothing shorter.
	opRepeat
)

// A byteTable tells, for the next byte of the input (index 256: at the end
// of the input), whether a branch may match there. A false entry is a proof
// that the branch fails; a true one proves nothing.
type byteTable [257]bool

// atEnd is the byteTable index for the end of the input.
const atEnd = 256

// An inst is one instruction of the matcher's program. Its states (inst,
// position) are those of Go's program, where a loop instruction stands for
// the loop's InstAlt and a literal for its chain of InstRune1.
type inst struct {
	op  opcode
	out uint32 // next instruction
	arg uint32 // opAlt: second branch; opCapture: slot; opEmpty: assertion
	// row is the visited-bitmap row of the instruction's states, or -1 for
	// an instruction that can be entered only from one other, whose
	// states it then follows (see compiler.assignRows). The loops mark the
	// positions of their runs in runRow.
	row    int32
	runRow int32
	// min counts the runes of class a loop consumes before it; opRepeat
	// consumes from min to max runes.
	min, max int32
	lit      string
	class    *runeClass
	// outMay (opAlt and the loops) and argMay (opAlt) tell whether out and
	// arg may match at the next byte.
	outMay, argMay *byteTable
}

// firstSet is what the input at a position must hold for an instruction
// to match there.
type firstSet struct {
	runes      runeSet // the first rune consumed is one of these
	empty      bool    // or it may match without consuming anything
	emptyAtEnd bool    // or, at the end of the input, without consuming anything
}

// program is the matcher's program.
type program struct {
	insts  []inst
	start  uint32
	rows   int    // rows of the visited bitmap
	prefix string // every match begins with it
	// startMay tells where a match may begin; nil: anywhere.
	startMay *byteTable
}

// compiler turns Go's compiled program into the matcher's.
type compiler struct {
	prog     *syntax.Prog
	insts    []inst
	start    uint32
	resolved []int32 // instruction each Go pc stands for after its InstNops
	goDeg    []int   // ways into each Go instruction, InstNops resolved
	failPC   uint32
	// goJoin tells which instructions had two ways in or more in Go's
	// program (see assignRows).
	goJoin []bool
	// repeats holds the chains of quests that become opRepeat when the
	// instruction after them cannot begin with a rune of their class.
	repeats map[uint32]inst
	// seen is the scratch of first: seen[2*pc] and seen[2*pc+1] (past an
	// end-of-text assertion) hold the number of the call that visited pc.
	seen    []uint32
	calls   uint32
	budget  int
	classes map[classKey]*runeClass
	tables  map[byteTable]*byteTable
}

// maxProgram bounds the size of the programs translate takes (fail2ban's
// largest filter regex has 2020 instructions): a larger one would need
// more memory than regexp, and leave room in the visited bitmap for short
// inputs only.
const maxProgram = 10_000

var errProgramTooLarge = errors.New("program too large")

// translate builds the matcher's program for Go's.
func translate(prog *syntax.Prog) (*program, error) {
	if len(prog.Inst) > maxProgram {
		return nil, fmt.Errorf("%w: %d instructions, more than %d", errProgramTooLarge, len(prog.Inst), maxProgram)
	}
	c := &compiler{
		prog:     prog,
		insts:    make([]inst, len(prog.Inst)+1),
		resolved: make([]int32, len(prog.Inst)),
		goDeg:    make([]int, len(prog.Inst)+1),
		failPC:   uint32(len(prog.Inst)),
		repeats:  map[uint32]inst{},
		classes:  map[classKey]*runeClass{},
		tables:   map[byteTable]*byteTable{},
	}
	for i := range c.resolved {
		c.resolved[i] = -1
	}
	for _, in := range prog.Inst {
		switch in.Op {
		case syntax.InstNop, syntax.InstMatch, syntax.InstFail:
		case syntax.InstAlt, syntax.InstAltMatch:
			c.goDeg[c.resolve(in.Out)]++
			c.goDeg[c.resolve(in.Arg)]++
		default:
			c.goDeg[c.resolve(in.Out)]++
		}
	}
	c.goJoin = make([]bool, len(c.insts))
	for pc, deg := range c.goDeg {
		c.goJoin[pc] = deg >= 2
	}
	c.insts[c.failPC] = inst{op: opFail}
	for pc := range prog.Inst {
		if err := c.translateInst(uint32(pc)); err != nil {
			return nil, err
		}
	}
	c.start = c.resolve(uint32(prog.Start))
	c.mergeLiterals()
	c.seen = make([]uint32, 2*len(c.insts))
	c.makePossessive()
	c.foldLeadingRunes()
	c.compact()
	p := &program{start: c.start, rows: c.assignRows()}
	c.seen = make([]uint32, 2*len(c.insts))
	for pc := range c.insts {
		c.setTables(uint32(pc))
	}
	p.insts = c.insts
	p.prefix = c.prefix()
	if fs := c.first(p.start); !fs.empty {
		p.startMay = c.table(fs)
	}
	return p, nil
}

// resolve returns the instruction that Go's pc stands for: pc itself, or
// for an InstNop the first instruction after the run of InstNops. A cycle
// of InstNops, which Go's backtracker cuts when it comes back to its first
// instruction, fails.
func (c *compiler) resolve(pc uint32) uint32 {
	const inProgress = -2
	start := pc
	for c.prog.Inst[pc].Op == syntax.InstNop {
		switch c.resolved[pc] {
		case inProgress:
			c.finishResolve(start, c.failPC)
			return c.failPC
		case -1:
			c.resolved[pc] = inProgress
			pc = c.prog.Inst[pc].Out
		default:
			r := uint32(c.resolved[pc])
			c.finishResolve(start, r)
			return r
		}
	}
	c.finishResolve(start, pc)
	return pc
}

// finishResolve records target for the InstNops from pc on.
func (c *compiler) finishResolve(pc, target uint32) {
	for c.prog.Inst[pc].Op == syntax.InstNop && c.resolved[pc] != int32(target) {
		c.resolved[pc] = int32(target)
		pc = c.prog.Inst[pc].Out
	}
}

func (c *compiler) translateInst(pc uint32) error {
	in := &c.prog.Inst[pc]
	n := &c.insts[pc]
	*n = inst{op: opFail}
	switch in.Op {
	case syntax.InstMatch:
		n.op = opMatch
	case syntax.InstFail, syntax.InstNop:
		// An InstNop is never a target once resolved.
	case syntax.InstCapture:
		n.op, n.arg, n.out = opCapture, in.Arg, c.resolve(in.Out)
	case syntax.InstEmptyWidth:
		n.op, n.arg, n.out = opEmpty, in.Arg, c.resolve(in.Out)
	case syntax.InstAlt:
		c.translateAlt(pc)
	case syntax.InstRune1:
		// Comparing the bytes of a valid rune's encoding is comparing the
		// rune the input decodes to; utf8.RuneError also stands for every
		// invalid byte, and other invalid runes never match.
		if r := in.Rune[0]; utf8.ValidRune(r) && r != utf8.RuneError {
			n.op, n.lit, n.out = opLiteral, string(r), c.resolve(in.Out)
			break
		}
		fallthrough
	case syntax.InstRune, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
		n.op, n.class, n.out = opClass, c.class(in), c.resolve(in.Out)
	default:
		return fmt.Errorf("unsupported instruction %v", in.Op)
	}
	return nil
}

// classKey identifies the runes of a rune instruction; the instructions
// regexp/syntax repeats ("x{2,5}") share their rune slice.
type classKey struct {
	op    syntax.InstOp
	arg   uint32
	runes *rune
	n     int
}

// class returns the runeClass of Go's rune instruction in, shared between
// the instructions of a repetition.
func (c *compiler) class(in *syntax.Inst) *runeClass {
	key := classKey{op: in.Op, arg: in.Arg, n: len(in.Rune)}
	if len(in.Rune) > 0 {
		key.runes = &in.Rune[0]
	}
	if cl, ok := c.classes[key]; ok {
		return cl
	}
	cl := newRuneClass(in)
	c.classes[key] = cl
	return cl
}

// isRune reports whether Go's instruction pc consumes one rune.
func (c *compiler) isRune(pc uint32) bool {
	if pc == c.failPC {
		return false
	}
	switch c.prog.Inst[pc].Op {
	case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
		return true
	}
	return false
}

// translateAlt turns Go's InstAlt at pc into a loop when one of its
// branches is a single rune instruction that leads back to it: the
// preferred one for a greedy star, the other for a lazy one. A greedy quest
// that begins a chain of them over one class is noted in c.repeats.
func (c *compiler) translateAlt(pc uint32) {
	in := &c.prog.Inst[pc]
	out, arg := c.resolve(in.Out), c.resolve(in.Arg)
	n := &c.insts[pc]
	isBody := func(b uint32) bool {
		return c.isRune(b) && c.resolve(c.prog.Inst[b].Out) == pc
	}
	switch outBody, argBody := isBody(out), isBody(arg); {
	case outBody && !argBody && arg != pc:
		n.op, n.class, n.out = opGreedy, c.class(&c.prog.Inst[out]), arg
	case argBody && !outBody && out != pc:
		n.op, n.class, n.out = opLazy, c.class(&c.prog.Inst[arg]), out
	default:
		n.op, n.out, n.arg = opAlt, out, arg
		if count := c.questChain(pc); count > 0 {
			c.repeats[pc] = inst{op: opRepeat, class: c.class(&c.prog.Inst[out]), max: int32(count), out: arg}
		}
	}
}

// questChain returns the length of the chain of greedy quests over one
// rune instruction that begins at Go's InstAlt pc, "(?:x(?:x(?:x)?)?)?",
// or 0. Each quest's instructions but the first must have no other way in,
// and all quests must lead to the same instruction when they stop.
func (c *compiler) questChain(pc uint32) int {
	first := c.resolve(c.prog.Inst[pc].Out)
	exit := c.resolve(c.prog.Inst[pc].Arg)
	if !c.isRune(first) {
		return 0
	}
	count := 0
	for body := first; ; {
		if c.goDeg[body] != 1 || !sameRune(&c.prog.Inst[body], &c.prog.Inst[first]) {
			return 0
		}
		count++
		next := c.resolve(c.prog.Inst[body].Out)
		if next == exit {
			return count
		}
		in := &c.prog.Inst[next]
		// Only pc, which the chain starts with, could be entered from
		// outside and from the chain.
		if in.Op != syntax.InstAlt || next == pc || c.goDeg[next] != 1 || c.resolve(in.Arg) != exit {
			return 0
		}
		body = c.resolve(in.Out)
		if !c.isRune(body) {
			return 0
		}
	}
}

// sameRune reports whether two rune instructions consume the same runes.
func sameRune(a, b *syntax.Inst) bool {
	return a.Op == b.Op && a.Arg == b.Arg && slices.Equal(a.Rune, b.Rune)
}

// successors returns the instructions n may go to.
func (n *inst) successors() []uint32 {
	switch n.op {
	case opMatch, opFail:
		return nil
	case opAlt:
		return []uint32{n.out, n.arg}
	}
	return []uint32{n.out}
}

// reachable returns the instructions reachable from the start, start
// first, each before its successors in depth-first order.
func (c *compiler) reachable() []uint32 {
	seen := make([]bool, len(c.insts))
	var order []uint32
	stack := []uint32{c.start}
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[pc] {
			continue
		}
		seen[pc] = true
		order = append(order, pc)
		succ := c.insts[pc].successors()
		for i := len(succ) - 1; i >= 0; i-- {
			stack = append(stack, succ[i])
		}
	}
	return order
}

// inDegrees counts the edges into each instruction from the reachable
// ones, plus one for the start, which the search enters.
func (c *compiler) inDegrees() []int {
	deg := make([]int, len(c.insts))
	deg[c.start]++
	for _, pc := range c.reachable() {
		for _, s := range c.insts[pc].successors() {
			deg[s]++
		}
	}
	return deg
}

// mergeLiterals joins chains of literals into one: a literal whose only
// way in is from the literal before it is compared with it.
func (c *compiler) mergeLiterals() {
	deg := c.inDegrees()
	for _, pc := range c.reachable() {
		n := &c.insts[pc]
		if n.op != opLiteral {
			continue
		}
		lit := []byte(n.lit)
		for {
			next := &c.insts[n.out]
			if n.out == pc || deg[n.out] != 1 || next.op != opLiteral {
				break
			}
			lit = append(lit, next.lit...)
			n.out = next.out
			*next = inst{op: opFail}
		}
		n.lit = string(lit)
	}
}

// makePossessive turns the loops and chains of quests whose continuation
// cannot begin with a rune of their class into opPossessive and opRepeat.
//
// A greedy loop tries its continuation after the longest run of its
// class, then after each shorter one; a lazy loop after the shortest, then
// after each longer one; a chain of greedy quests like a greedy loop,
// within its bound. After any run but the longest, the next rune is in the
// class, so a continuation that must consume a rune outside the class
// first (and cannot match empty there) fails: only the longest run can
// lead to a match, whichever order the runs are tried in, and the loop can
// take it without trying the others.
func (c *compiler) makePossessive() {
	for _, pc := range c.reachable() {
		n := &c.insts[pc]
		switch {
		case n.op == opGreedy || n.op == opLazy:
			if c.possessive(n.class, n.out) {
				n.op = opPossessive
			}
		case n.op == opAlt:
			if r, ok := c.repeats[pc]; ok && c.possessive(r.class, r.out) {
				*n = r
			}
		}
	}
}

// possessive reports whether next cannot match empty nor begin with a rune
// of cl.
func (c *compiler) possessive(cl *runeClass, next uint32) bool {
	fs := c.first(next)
	return !fs.empty && !cl.set.intersects(fs.runes)
}

// foldLeadingRunes folds a rune instruction into the loop or repetition of
// the same class that follows it and that nothing else leads to: "x+" is
// "x" and "x*", "x{2,3}" is "xx(?:x)?".
func (c *compiler) foldLeadingRunes() {
	for changed := true; changed; {
		changed = false
		deg := c.inDegrees()
		order := c.reachable()
		// Successors first, so that "xxx+" folds in one pass.
		slices.Reverse(order)
		for _, pc := range order {
			n := &c.insts[pc]
			if n.op != opClass || n.out == pc || deg[n.out] != 1 {
				continue
			}
			next := c.insts[n.out]
			switch next.op {
			case opPossessive, opGreedy, opLazy, opRepeat:
			default:
				continue
			}
			if !sameRune(&n.class.inst, &next.class.inst) {
				continue
			}
			c.insts[n.out] = inst{op: opFail}
			next.min++
			if next.op == opRepeat {
				next.max++
			}
			*n = next
			changed = true
		}
	}
}

// compact renumbers the reachable instructions from 0, start first, and
// drops the others.
func (c *compiler) compact() {
	order := c.reachable()
	renum := make([]uint32, len(c.insts))
	for i, pc := range order {
		renum[pc] = uint32(i)
	}
	insts := make([]inst, len(order))
	goJoin := make([]bool, len(order))
	for i, pc := range order {
		goJoin[i] = c.goJoin[pc]
		n := c.insts[pc]
		switch n.op {
		case opMatch, opFail:
		case opAlt:
			n.out, n.arg = renum[n.out], renum[n.arg]
		default:
			n.out = renum[n.out]
		}
		insts[i] = n
	}
	c.insts = insts
	c.goJoin = goJoin
	c.start = 0
}

// assignRows gives visited-bitmap rows to the instructions that need one
// and returns how many there are.
//
// Go's backtracker marks every state (pc, position) it enters and cuts a
// path that enters a marked state again. That cut decides the result in
// one case only: a state still being explored, entered again through a
// cycle of instructions that consume nothing (such as "(a*)*"); there the
// cut ends the cycle. A state whose exploration is over has failed (the
// search stops at the first match, and no capture or position before a
// state changes whether it can reach the match), so entering it again
// fails again: marking it only saves time.
//
// A path enters such a cycle through an instruction that has two ways in
// in Go's program (one from outside the cycle, one from inside; an
// instruction with one way in is entered from the same instruction each
// time, at the same position if that one consumes nothing), or through the
// start. Marking those that can be entered without consuming anything
// cuts every cycle where Go cuts it: loops mark the positions of their
// runs, and the instruction after a bounded repetition keeps its mark
// although only the opRepeat leads to it now.
//
// Instructions with two ways in here are marked as well. The states of the
// others are entered only from the one before them; each is explored at
// most once per exploration of the state it follows from, and a loop tries
// its continuation at most once per position, which keeps the search
// within O(len(program) * len(input)) steps, like Go's.
func (c *compiler) assignRows() int {
	deg := c.inDegrees()
	rows := int32(0)
	for pc := range c.insts {
		n := &c.insts[pc]
		n.row, n.runRow = -1, -1
		loop := n.op == opPossessive || n.op == opGreedy || n.op == opLazy
		consumes := n.op == opLiteral || n.op == opClass || n.min > 0
		switch {
		case n.op == opMatch || n.op == opFail:
		case loop && n.min == 0:
			// The loop marks its entry in runRow.
		case deg[pc] >= 2 || c.goJoin[pc] && !consumes:
			n.row = rows
			rows++
		}
		if loop {
			n.runRow = rows
			rows++
		}
	}
	return int(rows)
}

// setTables fills in the byte tables of the instruction at pc.
func (c *compiler) setTables(pc uint32) {
	n := &c.insts[pc]
	switch n.op {
	case opAlt:
		n.outMay = c.table(c.first(n.out))
		n.argMay = c.table(c.first(n.arg))
	case opGreedy, opLazy:
		n.outMay = c.table(c.first(n.out))
	}
}

// firstBudget bounds the instructions first visits: a program such as
// "(?:a?b?c?){1000}" would otherwise take time in the square of its size.
const firstBudget = 256

// first returns what the input must hold for pc to match at a position.
// Past firstBudget instructions, it gives up and says that pc may match
// anywhere, which is true of every instruction.
func (c *compiler) first(pc uint32) firstSet {
	c.calls++
	c.budget = firstBudget
	var fs firstSet
	c.walkFirst(pc, false, &fs)
	fs.runes = normalize(fs.runes)
	return fs
}

// walkFirst adds to fs the runes that pc consumes first, or notes that it
// matches empty; past an end-of-text assertion, nothing can be consumed.
func (c *compiler) walkFirst(pc uint32, end bool, fs *firstSet) {
	k := 2 * pc
	if end {
		k++
	}
	if c.seen[k] == c.calls {
		return
	}
	c.seen[k] = c.calls
	if c.budget--; c.budget < 0 {
		fs.empty = true
		return
	}
	n := &c.insts[pc]
	switch n.op {
	case opMatch:
		if end {
			fs.emptyAtEnd = true
		} else {
			fs.empty = true
		}
	case opAlt:
		c.walkFirst(n.out, end, fs)
		c.walkFirst(n.arg, end, fs)
	case opCapture:
		c.walkFirst(n.out, end, fs)
	case opEmpty:
		c.walkFirst(n.out, end || syntax.EmptyOp(n.arg)&syntax.EmptyEndText != 0, fs)
	case opLiteral:
		if !end {
			r, _ := utf8.DecodeRuneInString(n.lit)
			fs.runes = append(fs.runes, r, r)
		}
	case opClass:
		if !end {
			fs.runes = append(fs.runes, n.class.set...)
		}
	case opGreedy, opLazy, opPossessive, opRepeat:
		if !end {
			fs.runes = append(fs.runes, n.class.set...)
		}
		if n.min == 0 {
			c.walkFirst(n.out, end, fs)
		}
	}
}

// table returns the byte table of fs, shared between equal tables.
func (c *compiler) table(fs firstSet) *byteTable {
	var t byteTable
	multibyte := fs.runes.hasMultibyte()
	for b := range 256 {
		if b < utf8.RuneSelf {
			t[b] = fs.empty || fs.runes.contains(rune(b))
		} else {
			t[b] = fs.empty || multibyte
		}
	}
	t[atEnd] = fs.empty || fs.emptyAtEnd
	if shared, ok := c.tables[t]; ok {
		return shared
	}
	p := &t
	c.tables[t] = p
	return p
}

// prefix returns the literal every match begins with, or "".
func (c *compiler) prefix() string {
	pc := c.start
	for c.insts[pc].op == opCapture {
		pc = c.insts[pc].out
	}
	if c.insts[pc].op == opLiteral {
		return c.insts[pc].lit
	}
	return ""
}
