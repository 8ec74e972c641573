package dates

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// ParseZone parses a logtimezone value as fail2ban's validateTimeZone does:
// an optional abbreviation from fail2ban's table followed by an optional
// [+-]hh[[:]mm] offset, such as "UTC", "UTC+0200", "UTC-05:00", "CET" or
// "+0100". The result is a fixed offset: like fail2ban, "CET" never
// switches to summer time.
func ParseZone(s string) (*time.Location, error) {
	minutes, ok := zoneOffset([]byte(s))
	if !ok {
		return nil, fmt.Errorf("unknown or unsupported time zone %q", s)
	}
	return time.FixedZone(s, minutes*60), nil
}

// zoneOffset returns the offset in minutes east of UTC of a zone written as
// fail2ban's FIXED_OFFSET_TZ_RE accepts it: ([A-Z](?:[A-Z]{2,4})?)? then
// ([+-][01]\d(?::?\d{2})?)? then the end (or a final newline).
func zoneOffset(s []byte) (int, bool) {
	if n := len(s); n > 0 && s[n-1] == '\n' {
		s = s[:n-1]
	}
	letters := 0
	for letters < len(s) && 'A' <= s[letters] && s[letters] <= 'Z' {
		letters++
	}
	base := 0
	switch {
	case letters == 2 || letters > 5:
		return 0, false
	case letters > 0:
		var ok bool
		if base, ok = zoneAbbreviations[string(s[:letters])]; !ok {
			return 0, false
		}
	}
	rest := s[letters:]
	if len(rest) == 0 {
		return base, true
	}
	// The offset's digits may be any decimal digits, as \d and int() are in
	// Python, so read it as runes.
	var r [6]rune
	n := 0
	for i := 0; i < len(rest); n++ {
		if n == len(r) {
			return 0, false
		}
		var size int
		r[n], size = utf8.DecodeRune(rest[i:])
		i += size
	}
	digit := func(i int) (int, bool) { return digitValue(r[i]) }
	if r[0] != '+' && r[0] != '-' || n < 3 {
		return 0, false
	}
	sign := 1
	if r[0] == '-' {
		sign = -1
	}
	h1, ok1 := digit(1)
	h2, ok2 := digit(2)
	if !ok1 || !ok2 || r[1] != '0' && r[1] != '1' {
		return 0, false
	}
	hours := h1*10 + h2
	var minutes int
	switch {
	case n == 3:
	case n == 5 || n == 6 && r[3] == ':':
		m1, ok1 := digit(n - 2)
		m2, ok2 := digit(n - 1)
		if !ok1 || !ok2 {
			return 0, false
		}
		minutes = m1*10 + m2
	default:
		return 0, false
	}
	return base + sign*(hours*60+minutes), true
}

// zoneAbbreviations is fail2ban's TZ_ABBR_OFFS: fixed offsets in minutes,
// never summer time.
var zoneAbbreviations = func() map[string]int {
	m := map[string]int{}
	for _, z := range []struct {
		minutes int
		names   []string
	}{
		{-12 * 60, []string{"Y"}},
		{-11 * 60, []string{"X", "NUT", "SST"}},
		{-10 * 60, []string{"W", "CKT", "HAST", "HST", "TAHT", "TKT"}},
		{-9 * 60, []string{"V", "AKST", "GAMT", "GIT", "HADT", "HNY"}},
		{-8 * 60, []string{"U", "AKDT", "CIST", "HAY", "HNP", "PST", "PT"}},
		{-7 * 60, []string{"T", "HAP", "HNR", "MST", "PDT"}},
		{-6 * 60, []string{"S", "CST", "EAST", "GALT", "HAR", "HNC", "MDT"}},
		{-5 * 60, []string{"R", "CDT", "COT", "EASST", "ECT", "EST", "ET", "HAC", "HNE", "PET"}},
		{-4 * 60, []string{"Q", "AST", "BOT", "CLT", "COST", "EDT", "FKT", "GYT", "HAE", "HNA", "PYT"}},
		{-3 * 60, []string{"P", "ADT", "ART", "BRT", "CLST", "FKST", "GFT", "HAA", "PMST", "PYST", "SRT", "UYT", "WGT"}},
		{-2 * 60, []string{"O", "BRST", "FNT", "PMDT", "UYST", "WGST"}},
		{-1 * 60, []string{"N", "AZOT", "CVT", "EGT"}},
		{0, []string{"Z", "EGST", "GMT", "UTC", "WET", "WT"}},
		{1 * 60, []string{"A", "CET", "DFT", "WAT", "WEDT", "WEST"}},
		{2 * 60, []string{"B", "CAT", "CEDT", "CEST", "EET", "SAST", "WAST"}},
		{3 * 60, []string{"C", "EAT", "EEDT", "EEST", "IDT", "MSK"}},
		{4 * 60, []string{"D", "AMT", "AZT", "GET", "GST", "KUYT", "MSD", "MUT", "RET", "SAMT", "SCT"}},
		{5 * 60, []string{"E", "AMST", "AQTT", "AZST", "HMT", "MAWT", "MVT", "PKT", "TFT", "TJT", "TMT", "UZT", "YEKT"}},
		{6 * 60, []string{"F", "ALMT", "BIOT", "BTT", "IOT", "KGT", "NOVT", "OMST", "YEKST"}},
		{7 * 60, []string{"G", "CXT", "DAVT", "HOVT", "ICT", "KRAT", "NOVST", "OMSST", "THA", "WIB"}},
		{8 * 60, []string{"H", "ACT", "AWST", "BDT", "BNT", "CAST", "HKT", "IRKT", "KRAST", "MYT", "PHT", "SGT", "ULAT", "WITA", "WST"}},
		{9 * 60, []string{"I", "AWDT", "IRKST", "JST", "KST", "PWT", "TLT", "WDT", "WIT", "YAKT"}},
		{10 * 60, []string{"K", "AEST", "ChST", "PGT", "VLAT", "YAKST", "YAPT"}},
		{11 * 60, []string{"L", "AEDT", "LHDT", "MAGT", "NCT", "PONT", "SBT", "VLAST", "VUT"}},
		{12 * 60, []string{"M", "ANAST", "ANAT", "FJT", "GILT", "MAGST", "MHT", "NZST", "PETST", "PETT", "TVT", "WFT"}},
		{13 * 60, []string{"FJST", "NZDT"}},
		{11*60 + 30, []string{"NFT"}},
		{10*60 + 30, []string{"ACDT", "LHST"}},
		{9*60 + 30, []string{"ACST"}},
		{6*60 + 30, []string{"CCT", "MMT"}},
		{5*60 + 45, []string{"NPT"}},
		{5*60 + 30, []string{"SLT"}},
		{4*60 + 30, []string{"AFT", "IRDT"}},
		{3*60 + 30, []string{"IRST"}},
		{-2*60 - 30, []string{"HAT", "NDT"}},
		{-3*60 - 30, []string{"HNT", "NST", "NT"}},
		{-4*60 - 30, []string{"HLV", "VET"}},
		{-9*60 - 30, []string{"MART", "MIT"}},
	} {
		for _, name := range z.names {
			m[name] = z.minutes
		}
	}
	return m
}()
