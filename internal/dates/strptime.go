package dates

import (
	"time"
	"unicode/utf8"
)

// field is a strptime field a template captures, keyed by the name of the
// Python regex group that fail2ban's directives expand to.
type field uint8

const (
	fieldYear field = iota
	fieldYear2
	fieldMonth
	fieldMonthName
	fieldMonthAbbr
	fieldDay
	fieldHour
	fieldHour12
	fieldAMPM
	fieldMinute
	fieldSecond
	fieldWeekdayName
	fieldWeekdayAbbr
	fieldWeekday
	fieldYearday
	fieldWeekSunday
	fieldWeekMonday
	fieldZone
)

var fieldsByGroup = map[string]field{
	"Y": fieldYear, "y": fieldYear2, "m": fieldMonth, "B": fieldMonthName,
	"b": fieldMonthAbbr, "d": fieldDay, "H": fieldHour, "I": fieldHour12,
	"p": fieldAMPM, "M": fieldMinute, "S": fieldSecond, "A": fieldWeekdayName,
	"a": fieldWeekdayAbbr, "w": fieldWeekday, "j": fieldYearday,
	"U": fieldWeekSunday, "W": fieldWeekMonday, "z": fieldZone, "Z": fieldZone,
}

// capture is a named group of a template that carries a strptime field.
type capture struct {
	group int
	field field
}

// strptime turns a template's captures into a time exactly as fail2ban's
// reGroupDictStrptime does, quirks included; ok is false where Python
// raises. Fields are read in group order, later ones overriding earlier
// ones. Fractions of seconds are discarded, as fail2ban does. now is the
// current time in the system's zone; logZone, if not nil, is the zone of
// dates that carry none (logtimezone). usesNow reports whether the result
// depends on now, which it does when the date lacks its year, month and
// day or its zone.
func strptime(line []byte, caps []int, fields []capture, ampmGroup int, now time.Time, logZone *time.Location) (_ time.Time, ok, usesNow bool) {
	var (
		year, month, day                int
		hasYear, hasMonth, hasDay       bool
		hour, minute, second            int
		zoneMinutes                     int
		hasZone                         bool
		weekday, yearday, week          int
		hasWeekday, hasYearday, hasWeek bool
		weekStartsMonday                bool
	)
	for _, c := range fields {
		s, e := caps[2*c.group], caps[2*c.group+1]
		if s < 0 || e < 0 {
			continue
		}
		val := line[s:e]
		var ok bool
		switch c.field {
		case fieldYear2:
			year, ok = pyInt(val)
			// fail2ban keeps two-digit years in this century.
			if year <= 2000 {
				year += 2000
			}
			hasYear = true
		case fieldYear:
			year, ok = pyInt(val)
			hasYear = true
		case fieldMonth:
			month, ok = pyInt(val)
			hasMonth = true
		case fieldMonthName:
			month, ok = nameIndex(val, monthNames[:])
			hasMonth = true
		case fieldMonthAbbr:
			month, ok = nameIndex(val, monthAbbrs[:])
			hasMonth = true
		case fieldDay:
			day, ok = pyInt(val)
			hasDay = true
		case fieldHour:
			hour, ok = pyInt(val)
		case fieldHour12:
			if hour, ok = pyInt(val); !ok {
				break
			}
			var ampm []byte
			if ampmGroup >= 0 {
				ps, pe := caps[2*ampmGroup], caps[2*ampmGroup+1]
				if ps < 0 || pe < 0 {
					return time.Time{}, false, false // Python: None.lower()
				}
				ampm = line[ps:pe]
			}
			switch {
			case len(ampm) == 0 || equalASCIIFold(ampm, "am"):
				if hour == 12 {
					hour = 0
				}
			case equalASCIIFold(ampm, "pm"):
				if hour != 12 {
					hour += 12
				}
			}
		case fieldAMPM:
			ok = true
		case fieldMinute:
			minute, ok = pyInt(val)
		case fieldSecond:
			second, ok = pyInt(val)
		case fieldWeekdayName:
			weekday, ok = nameIndex(val, weekdayNames[:])
			hasWeekday = true
		case fieldWeekdayAbbr:
			weekday, ok = nameIndex(val, weekdayAbbrs[:])
			hasWeekday = true
		case fieldWeekday:
			weekday, ok = pyInt(val)
			if weekday--; weekday < 0 {
				weekday = 6
			}
			hasWeekday = true
		case fieldYearday:
			yearday, ok = pyInt(val)
			hasYearday = true
		case fieldWeekSunday, fieldWeekMonday:
			week, ok = pyInt(val)
			weekStartsMonday = c.field == fieldWeekMonday
			hasWeek = true
		case fieldZone:
			switch string(val) {
			case "Z", "UTC", "GMT":
				zoneMinutes, ok = 0, true
			default:
				zoneMinutes, ok = zoneOffset(val)
			}
			hasZone = true
		}
		if !ok {
			return time.Time{}, false, false
		}
	}

	// Whether now matters, erring on the side of yes: it gives a missing
	// year, month or day, and the zone of dates without one.
	usesNow = !hasYear || !hasMonth || !hasDay || !hasZone && logZone == nil

	// Python's naive datetimes are seconds here, counted as if in UTC.
	_, nowOffset := now.Zone()
	nowNaive := now.Unix() + int64(nowOffset)
	nowYear, nowMonth, nowDay := civil(floorDiv(nowNaive, secondsPerDay))
	assumeYear := !hasYear
	if assumeYear {
		year = nowYear
	}
	if !hasMonth || !hasDay {
		if !validYear(year) {
			return time.Time{}, false, usesNow
		}
		if !hasYearday && hasWeek && hasWeekday {
			yearday = julianFromWeek(year, week, weekday, weekStartsMonday)
			hasYearday = true
		}
		if hasYearday {
			if year, month, day = civil(daysFromCivil(year, 1, 1) + int64(yearday) - 1); !validYear(year) {
				return time.Time{}, false, usesNow
			}
			hasMonth, hasDay = true, true
		}
	}
	assumeToday := !hasMonth && !hasDay
	if assumeToday {
		month, day = nowMonth, nowDay
	} else if !hasMonth || !hasDay {
		return time.Time{}, false, usesNow // Python: datetime() with None
	}
	date, ok := makeNaive(year, month, day, hour, minute, second)
	if !ok {
		return time.Time{}, false, usesNow
	}
	if !hasZone && logZone != nil {
		_, offset := time.Date(year, time.Month(month), day, hour, minute, second, 0, logZone).Zone()
		zoneMinutes, hasZone = offset/60, true
	}
	if hasZone {
		if date -= int64(zoneMinutes) * 60; !validNaive(date) {
			return time.Time{}, false, usesNow
		}
	}
	// As in fail2ban, these compare the date, shifted to UTC if it has a
	// zone, with the local wall clock. Python's now has microseconds, the
	// date none, so comparing whole seconds gives the same answers.
	if assumeToday && date > nowNaive {
		if date -= secondsPerDay; !validNaive(date) {
			return time.Time{}, false, usesNow
		}
	}
	if assumeYear && date > nowNaive+secondsPerDay {
		// datetime.replace(year=year-1, month=month, day=day) keeps the
		// (possibly shifted) time of day.
		tod := date - floorDiv(date, secondsPerDay)*secondsPerDay
		if date, ok = makeNaive(year-1, month, day, 0, 0, 0); !ok {
			return time.Time{}, false, usesNow
		}
		date += tod
	}
	if hasZone {
		return time.Unix(date, 0), true, usesNow
	}
	// mktime: the wall clock in the local zone.
	days := floorDiv(date, secondsPerDay)
	y, m, d := civil(days)
	tod := int(date - days*secondsPerDay)
	return time.Unix(time.Date(y, time.Month(m), d, 0, 0, tod, 0, now.Location()).Unix(), 0), true, usesNow
}

const secondsPerDay = 24 * 60 * 60

// makeNaive is Python's datetime(year, month, day, hour, minute, second),
// which rejects out-of-range fields instead of normalising them.
func makeNaive(year, month, day, hour, minute, second int) (int64, bool) {
	if !validYear(year) || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 {
		return 0, false
	}
	return daysFromCivil(year, month, day)*secondsPerDay + int64(hour*3600+minute*60+second), true
}

func validYear(y int) bool { return 1 <= y && y <= 9999 }

// validNaive reports whether a naive time is within Python's datetime range.
func validNaive(t int64) bool {
	return daysFromCivil(1, 1, 1)*secondsPerDay <= t && t < daysFromCivil(10000, 1, 1)*secondsPerDay
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the day number, from 1970-01-01, of a date of the
// proleptic Gregorian calendar (Howard Hinnant's algorithm).
func daysFromCivil(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	doy := (153*int64((month+9)%12)+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// civil is the inverse of daysFromCivil.
func civil(days int64) (year, month, day int) {
	days += 719468
	era := floorDiv(days, 146097)
	doe := days - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day = int(doy - (153*mp+2)/5 + 1)
	month = int(mp) + 3
	if month > 12 {
		month -= 12
	}
	year = int(yoe + era*400)
	if month <= 2 {
		year++
	}
	return year, month, day
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// julianFromWeek is Python's _calc_julian_from_U_or_W.
func julianFromWeek(year, week, weekday int, weekStartsMonday bool) int {
	// 1970-01-01 was a Thursday; Monday is 0.
	firstWeekday := int((daysFromCivil(year, 1, 1)%7 + 7 + 3) % 7)
	if !weekStartsMonday {
		firstWeekday = (firstWeekday + 1) % 7
		weekday = (weekday + 1) % 7
	}
	week0Length := (7 - firstWeekday) % 7
	if week == 0 {
		return 1 + weekday - firstWeekday
	}
	return 1 + week0Length + 7*(week-1) + weekday
}

// pyInt is Python's int() of a captured string: surrounding white space,
// a sign, decimal digits of any script and single underscores between
// digits. Values too large for a date field are rejected.
func pyInt(s []byte) (int, bool) {
	if n, ok := asciiInt(s); ok {
		return n, true
	}
	i, j := 0, len(s)
	for i < j {
		r, size := decodeRune(s, i)
		if !isSpaceRune(r) {
			break
		}
		i += size
	}
	for j > i {
		r, size := utf8.DecodeLastRune(s[i:j])
		if !isSpaceRune(r) {
			break
		}
		j -= size
	}
	neg := false
	if i < j && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	n, digits := 0, 0
	underscore := false
	for i < j {
		r, size := decodeRune(s, i)
		i += size
		if r == '_' && digits > 0 && !underscore {
			underscore = true
			continue
		}
		v, ok := digitValue(r)
		if !ok || digits >= 18 {
			return 0, false
		}
		n = n*10 + v
		digits++
		underscore = false
	}
	if digits == 0 || underscore {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// asciiInt is pyInt's fast path for the usual 1 to 4 ASCII digits.
func asciiInt(s []byte) (int, bool) {
	if len(s) == 0 || len(s) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

var (
	monthNames   = [...]string{"", "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}
	monthAbbrs   = [...]string{"", "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	weekdayNames = [...]string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
	weekdayAbbrs = [...]string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
)

// nameIndex is Python's names.index(val.lower()) for the C locale's names.
func nameIndex(val []byte, names []string) (int, bool) {
	for i, name := range names {
		if equalASCIIFold(val, name) {
			return i, true
		}
	}
	return 0, false
}

func equalASCIIFold(s []byte, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
