package e2e

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// TestWrongPINsBan: an address guessing PINs is banned at its maxretry-th
// wrong PIN, in the proxy namespace's nftables, and its next TCP
// connection to 443 is dropped, while another address still joins.
func TestWrongPINsBan(t *testing.T) {
	rp := newReverseProxy(t)
	pj := startPinjail(t, rp, jail{maxRetry: 5, findTime: time.Minute, banTime: time.Minute})
	attacker, user := rp.client(attackerAddr), rp.client(userAddr)

	for i := range 4 {
		attacker.wrongPIN(t)
		pj.waitFailed(t, uint64(i+1))
		pj.expectNotBanned(t, attacker)
	}
	attacker.wrongPIN(t)
	b, _ := pj.waitBanned(t, attacker)
	if b.timeout != time.Minute || b.expires <= 0 || b.expires > time.Minute {
		t.Errorf("kernel ban of %s: timeout %v, expires in %v; want the bantime, 1m", attacker, b.timeout, b.expires)
	}
	if _, err := attacker.requestToken(room, roomPIN); err == nil {
		t.Errorf("%s: request_token answered while banned", attacker)
	}

	user.join(t, 0)
	pj.expectNotBanned(t, user)

	if pj.tableOnHost() {
		t.Errorf("table inet %s exists in the host's namespace; pinjail must only change the proxy namespace", pj.table)
	}
}

// TestBanExpires: a ban ends after bantime, and the address connects and
// joins again.
func TestBanExpires(t *testing.T) {
	const banTime = 4 * time.Second
	rp := newReverseProxy(t)
	pj := startPinjail(t, rp, jail{maxRetry: 3, findTime: time.Minute, banTime: banTime})
	attacker := rp.client(attackerAddr)

	for range 3 {
		attacker.wrongPIN(t)
	}
	_, bannedAt := pj.waitBanned(t, attacker)

	time.Sleep(time.Until(bannedAt.Add(banTime - 1500*time.Millisecond)))
	attacker.expectBlocked(t)

	for {
		_, ok, err := pj.banned(attacker.addr)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if time.Since(bannedAt) > banTime+3*time.Second {
			t.Fatalf("%s still banned %v after the ban, bantime is %v", attacker, time.Since(bannedAt).Round(time.Millisecond), banTime)
		}
		time.Sleep(20 * time.Millisecond)
	}
	lifted := time.Since(bannedAt)
	if lifted < banTime-time.Second {
		t.Errorf("%s's ban lifted %v after it was seen, bantime is %v", attacker, lifted.Round(time.Millisecond), banTime)
	}
	t.Logf("ban lifted %v after it was seen", lifted.Round(time.Millisecond))
	attacker.expectOpen(t)
	attacker.join(t, 0)

	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, err := pj.status()
		if err != nil {
			t.Fatal(err)
		}
		if st.CurrentlyBanned == 0 && st.TotalBanned == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pinjail status after the bantime: %d currently banned (%v), %d in total; want 0 and 1",
				st.CurrentlyBanned, st.BannedIPs, st.TotalBanned)
		}
	}
}

// TestKillDuringAttack: pinjail killed with SIGKILL in the middle of an
// attack loses nothing. The kernel keeps enforcing the bans while it is
// down and after it starts again, and a second attacker's failures from
// before the kill still count: it is banned at its maxretry-th wrong PIN,
// as without the restart, neither earlier (lines counted twice) nor later
// (lines lost).
func TestKillDuringAttack(t *testing.T) {
	const maxRetry = 6
	rp := newReverseProxy(t)
	pj := startPinjail(t, rp, jail{maxRetry: maxRetry, findTime: time.Minute, banTime: time.Minute})
	banned, attacker := rp.client(attackerAddr), rp.client(otherAddr)

	for range maxRetry {
		banned.wrongPIN(t)
	}
	pj.waitBanned(t, banned)

	// The attack goes on more than a second after the ban (waitBanned's
	// dropped connect), so pinjail, which saves its state at most once a
	// second while lines flow, saves it in the middle of these failures,
	// and the kill comes before the next save.
	const beforeKill = 3
	for range beforeKill {
		attacker.wrongPIN(t)
	}
	pj.kill(t)

	if _, ok, err := pj.banned(banned.addr); err != nil || !ok {
		t.Fatalf("pinjail killed: the kernel lost the ban of %s (%v)", banned, err)
	}
	banned.expectBlocked(t)

	pj.start(t)
	base := pj.settledFailures(t)
	pj.waitBanned(t, banned)
	st, err := pj.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.CurrentlyBanned != 1 || len(st.BannedIPs) != 1 || st.BannedIPs[0] != banned.addr.String() {
		t.Errorf("after the restart pinjail holds bans %v (%d), want [%s]", st.BannedIPs, st.CurrentlyBanned, banned)
	}

	for i := beforeKill + 1; i < maxRetry; i++ {
		attacker.wrongPIN(t)
		pj.waitFailed(t, base+uint64(i-beforeKill))
		_, ok, err := pj.banned(attacker.addr)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			t.Fatalf("%s banned at its wrong PIN %d, maxretry is %d: failures from before the kill counted twice", attacker, i, maxRetry)
		}
		attacker.expectOpen(t)
	}
	attacker.wrongPIN(t)
	if _, ok := pj.bannedWithin(attacker.addr, 3*time.Second); !ok {
		t.Fatalf("%s not banned at its wrong PIN %d, maxretry is %d: failures from before the kill were lost", attacker, maxRetry, maxRetry)
	}
	attacker.expectBlocked(t)
}

// TestLogRotation: rotating api.access.log in the middle of an attack, as
// the RP's logrotate does, loses no failure: the attacker is banned at its
// maxretry-th wrong PIN.
func TestLogRotation(t *testing.T) {
	const maxRetry = 6
	t.Run("rename", func(t *testing.T) {
		rp := newReverseProxy(t)
		pj := startPinjail(t, rp, jail{maxRetry: maxRetry, findTime: time.Minute, banTime: time.Minute})
		attacker := rp.client(attackerAddr)
		log := rp.nginx.apiLog

		attacker.wrongPIN(t)
		attacker.wrongPIN(t)
		// logrotate's rename and create: until nginx reopens its logs, it
		// goes on writing to the renamed file.
		if err := os.Rename(log, log+".1"); err != nil {
			t.Fatal(err)
		}
		attacker.wrongPIN(t)
		attacker.wrongPIN(t)
		// nginx logs a request after answering it: wait for the line to
		// land in the renamed file before nginx reopens its logs.
		expectLines(t, log+".1", 4)
		f, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		rp.nginx.reopenLogs(t)
		attacker.wrongPIN(t)
		pj.waitFailed(t, maxRetry-1)
		pj.expectNotBanned(t, attacker)
		attacker.wrongPIN(t)
		pj.waitBanned(t, attacker)

		expectLines(t, log+".1", 4)
		expectLines(t, log, 2)
	})

	t.Run("copytruncate", func(t *testing.T) {
		rp := newReverseProxy(t)
		pj := startPinjail(t, rp, jail{maxRetry: maxRetry, findTime: time.Minute, banTime: time.Minute})
		attacker := rp.client(attackerAddr)
		log := rp.nginx.apiLog

		for range 3 {
			attacker.wrongPIN(t)
		}
		// A line written to the file but not yet read when it is
		// truncated exists only in the copy, which no follower reads:
		// copytruncate's own window. Rotate once pinjail has read them.
		pj.waitFailed(t, 3)
		copyTruncate(t, log)
		// The file grows back to its old size at once: a follower that
		// only compares sizes misses the truncation.
		for range 2 {
			attacker.wrongPIN(t)
		}
		pj.waitFailed(t, maxRetry-1)
		pj.expectNotBanned(t, attacker)
		attacker.wrongPIN(t)
		pj.waitBanned(t, attacker)

		expectLines(t, log+".1", 3)
		expectLines(t, log, 3)
	})
}

// copyTruncate rotates path as logrotate's copytruncate does.
func copyTruncate(t testing.TB, path string) {
	t.Helper()
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(path + ".1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
}

// expectLines checks that the log file at path has n lines, waiting a
// little for nginx, which writes a line after the response.
func expectLines(t testing.TB, path string, n int) {
	t.Helper()
	var got int
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got = strings.Count(string(b), "\n"); got >= n {
			break
		}
	}
	if got != n {
		t.Errorf("%s has %d lines, want %d", path, got, n)
	}
}

// TestUnbanAndStatus: `pinjail unban` lifts a ban at once, `pinjail ban`
// and `unban --all` work at the packet level too, and `pinjail status
// pexiprp` shows what happened in fail2ban-client's layout.
func TestUnbanAndStatus(t *testing.T) {
	rp := newReverseProxy(t)
	pj := startPinjail(t, rp, jail{maxRetry: 5, findTime: time.Minute, banTime: 10 * time.Minute})
	attacker, user, other := rp.client(attackerAddr), rp.client(userAddr), rp.client(otherAddr)

	user.join(t, 0) // strict mode: the PIN prompt is one failure
	for range 5 {
		attacker.wrongPIN(t)
	}
	pj.waitBanned(t, attacker)
	pj.waitFailed(t, 6)
	if got, want := pj.mustCLI(t, "status", jailName), jailStatus(rp, 1, 6, 1, 1, attacker); got != want {
		t.Errorf("pinjail status %s while banned:\n%s\nwant:\n%s", jailName, got, want)
	}
	if got := pj.mustCLI(t, "banned", attacker.String()); !strings.HasPrefix(got, jailName+"\t"+attacker.String()+"\tsince ") {
		t.Errorf("pinjail banned %s: %q, want the ban in %s", attacker, got, jailName)
	}

	if got := pj.mustCLI(t, "unban", jailName, attacker.String()); got != "1\n" {
		t.Errorf("pinjail unban %s %s printed %q, want 1", jailName, attacker, got)
	}
	pj.expectNotBanned(t, attacker)
	attacker.join(t, 0)
	pj.waitFailed(t, 7)
	if got, want := pj.mustCLI(t, "status", jailName), jailStatus(rp, 2, 7, 0, 1); got != want {
		t.Errorf("pinjail status %s after the unban:\n%s\nwant:\n%s", jailName, got, want)
	}
	if got := pj.mustCLI(t, "banned"); got != "" {
		t.Errorf("pinjail banned after the unban: %q, want nothing", got)
	}

	if got := pj.mustCLI(t, "ban", jailName, other.String()); got != "1\n" {
		t.Errorf("pinjail ban %s %s printed %q, want 1", jailName, other, got)
	}
	pj.waitBanned(t, other)
	if got := pj.mustCLI(t, "unban", "--all"); got != "1\n" {
		t.Errorf("pinjail unban --all printed %q, want 1", got)
	}
	pj.expectNotBanned(t, other)
}

// jailStatus is what `pinjail status pexiprp` prints, as fail2ban-client
// status does.
func jailStatus(rp *reverseProxy, failing, failed, banned, totalBanned int, bannedClients ...*client) string {
	addrs := make([]string, len(bannedClients))
	for i, c := range bannedClients {
		addrs[i] = c.String()
	}
	return fmt.Sprintf("Status for the jail: %s\n"+
		"|- Filter\n"+
		"|  |- Currently failed:\t%d\n"+
		"|  |- Total failed:\t%d\n"+
		"|  `- File list:\t%s\n"+
		"`- Actions\n"+
		"   |- Currently banned:\t%d\n"+
		"   |- Total banned:\t%d\n"+
		"   `- Banned IP list:\t%s\n",
		jailName, failing, failed, rp.nginx.apiLog, banned, totalBanned, strings.Join(addrs, " "))
}

// TestReconcileRestoresFirewall: whatever another tool removes from
// pinjail's nftables table (an element, the rules, the whole table, the
// whole ruleset) is restored by the reconcile loop within seconds, with
// the ban's remaining time, and the attacker's packets are dropped again.
func TestReconcileRestoresFirewall(t *testing.T) {
	rp := newReverseProxy(t)
	pj := startPinjail(t, rp, jail{maxRetry: 3, findTime: time.Minute, banTime: 10 * time.Minute})
	attacker := rp.client(attackerAddr)
	for range 3 {
		attacker.wrongPIN(t)
	}
	pj.waitBanned(t, attacker)

	for _, damage := range [][]string{
		{"delete", "element", "inet", pj.table, jailName + "-v4", "{ " + attacker.String() + " }"},
		{"flush", "table", "inet", pj.table},
		{"delete", "table", "inet", pj.table},
		{"flush", "ruleset"},
	} {
		before, ok, err := pj.banned(attacker.addr)
		if err != nil || !ok {
			t.Fatalf("before nft %s: no kernel ban of %s (%v)", strings.Join(damage, " "), attacker, err)
		}
		if _, err := rp.proxy.nft(damage...); err != nil {
			t.Fatal(err)
		}
		damaged := time.Now()
		// Until the reconcile loop runs (every second here), the attacker
		// gets through; it is blocked again once the firewall is back.
		var restored time.Time
		for {
			restored = time.Now()
			if attacker.connect() != nil {
				break
			}
			if time.Since(damaged) > 5*time.Second {
				t.Fatalf("nft %s: the firewall is not restored after %v", strings.Join(damage, " "), time.Since(damaged).Round(time.Millisecond))
			}
			time.Sleep(20 * time.Millisecond)
		}
		after, ok, err := pj.banned(attacker.addr)
		if err != nil || !ok {
			t.Fatalf("nft %s: %s blocked, but not in the restored set (%v)", strings.Join(damage, " "), attacker, err)
		}
		if after.expires > before.expires {
			t.Errorf("nft %s: restored ban expires in %v, more than the %v left before: a restore keeps the remaining time",
				strings.Join(damage, " "), after.expires, before.expires)
		}
		t.Logf("nft %s: restored within %v", strings.Join(damage, " "), restored.Sub(damaged).Round(time.Millisecond))
	}
}

// TestJoinModeForgivesJoins: with the built-in mode = joins, the 403s of
// joins (the PIN prompt, typos) are forgiven, so an office behind one NAT
// address joining again and again is never banned, while an address that
// only guesses is banned once its held 403s run out.
func TestJoinModeForgivesJoins(t *testing.T) {
	const (
		maxRetry = 5
		joinHold = 5 // the built-in joinhold
	)
	rp := newReverseProxy(t)
	pj := startPinjail(t, rp, jail{maxRetry: maxRetry, findTime: time.Minute, banTime: time.Minute, mode: "joins"})
	office, attacker := rp.client(userAddr), rp.client(attackerAddr)

	// 4 joins with a typo each: 12 403s, which mode = strict would ban.
	for range 4 {
		office.join(t, 1)
	}
	// No count to wait for, as forgiven 403s never count: give pinjail
	// time to read the lines instead.
	time.Sleep(300 * time.Millisecond)
	pj.expectNotBanned(t, office)

	for i := 1; ; i++ {
		attacker.wrongPIN(t)
		if _, ok := pj.bannedWithin(attacker.addr, 300*time.Millisecond); ok {
			t.Logf("%s banned at wrong PIN %d", attacker, i)
			break
		}
		if i > joinHold {
			t.Fatalf("%s not banned after %d wrong PINs; 403s beyond joinhold=%d all count, and maxretry is %d", attacker, i, joinHold, maxRetry)
		}
	}
	pj.waitBanned(t, attacker)
	office.join(t, 0)
	pj.expectNotBanned(t, office)
}
