package app

import "time"

// parseRFC3339 reads exactly the date-time of RFC 3339 §5.6, as SPEC §4.3
// restricts it for X-Timestamp:
//
//	date-time    = full-date "T" full-time          ; T or t
//	full-date    = 4DIGIT "-" 2DIGIT "-" 2DIGIT     ; a real calendar day
//	full-time    = 2DIGIT ":" 2DIGIT ":" 2DIGIT [ "." 1*9DIGIT ] time-offset
//	time-offset  = "Z" / "z" / ("+" / "-") 2DIGIT ":" 2DIGIT   ; up to 23:59
//
// It is written by hand because time.Parse is more lenient than the grammar
// (it takes a comma before the fraction, for one) and a partner's signature
// covers the header as sent: two spellings the server reads alike would be
// two signed messages for one instant. A leap second (:60) is accepted only
// where one can occur, at 23:59 UTC, and read as the next instant.
func parseRFC3339(s string) (time.Time, bool) {
	// The shortest form is 2006-01-02T15:04:05Z (20 bytes); the longest has a
	// nine-digit fraction and a numeric offset (35 bytes).
	if len(s) < 20 || len(s) > 35 {
		return time.Time{}, false
	}
	num := func(from, n int) (int, bool) {
		v := 0
		for i := from; i < from+n; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	hour, ok4 := num(11, 2)
	minute, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	rest := s[19:]
	nanos := 0
	if rest[0] == '.' {
		digits := 0
		for digits+1 < len(rest) && rest[digits+1] >= '0' && rest[digits+1] <= '9' {
			digits++
		}
		if digits < 1 || digits > 9 {
			return time.Time{}, false
		}
		for i := 1; i <= 9; i++ {
			nanos *= 10
			if i <= digits {
				nanos += int(rest[i] - '0')
			}
		}
		rest = rest[digits+1:]
	}
	offset := 0
	switch {
	case rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, okh := parseTwoDigits(rest[1:3])
		om, okm := parseTwoDigits(rest[4:6])
		if !okh || !okm || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	leap := sec == 60
	if leap {
		sec = 59
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nanos, time.UTC).Add(-time.Duration(offset) * time.Second)
	if leap {
		if u := t.UTC(); u.Hour() != 23 || u.Minute() != 59 {
			return time.Time{}, false
		}
		t = t.Add(time.Second)
	}
	return t, true
}

func parseTwoDigits(s string) (int, bool) {
	if len(s) != 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

// daysIn is the number of days of a month in the proleptic Gregorian calendar.
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

// withinTolerance compares instants, never a difference: a Duration
// saturates at ±292 years, and the negation of the saturated minimum
// overflows back to it, which once let a timestamp in year 9999 pass.
func withinTolerance(when, now time.Time, tolerance time.Duration) bool {
	return !when.Before(now.Add(-tolerance)) && !when.After(now.Add(tolerance))
}
