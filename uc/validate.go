package uc

import (
	"strings"
)

// Input rules of PROTOCOL §3.
const (
	minUsername = 3
	maxUsername = 32
	minPassword = 8
	maxPassword = 128
	maxDeviceID = 128
)

// validUsername: 3-32 characters of [A-Za-z0-9_.-].
func validUsername(s string) bool {
	if len(s) < minUsername || len(s) > maxUsername {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// weakPassword: shorter than 8 or longer than 128 bytes, or the username
// itself (in any case).
func weakPassword(pw, username string) bool {
	return len(pw) < minPassword || len(pw) > maxPassword || (username != "" && strings.EqualFold(pw, username))
}

// validPhone: E.164, a '+' then 8 to 15 digits, the first not 0.
func validPhone(s string) bool {
	if len(s) < 9 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validCode: exactly six ASCII digits.
func validCode(s string) bool {
	if len(s) != codeDigits {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
