package signaling

import (
	"bytes"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A hand-written decoder for client frames: every signal passes through it,
// and encoding/json's reflection cost a third of the server's CPU under load
// (and grew every reader's stack). It decodes only the fields the protocol
// has, validates everything else as JSON without building values, and keeps
// "id" and "data" as slices of the input.

// maxDepth bounds the nesting of arrays and objects in a frame.
const maxDepth = 256

type decoder struct {
	b   []byte
	i   int
	err *Error // invalid JSON: decoding stops
	bad *Error // the first field of the wrong type: decoding goes on, for the id
}

func (d *decoder) wrongType(format string, args ...any) {
	if d.bad == nil {
		d.bad = errorf(CodeBadRequest, format, args...)
	}
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = errorf(CodeBadRequest, format, args...)
	}
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// atEnd reports whether only white space is left.
func (d *decoder) atEnd() bool {
	d.ws()
	return d.i == len(d.b)
}

func (d *decoder) expect(c byte) bool {
	if d.peek() != c {
		d.syntax()
		return false
	}
	d.i++
	return true
}

func (d *decoder) syntax() {
	if d.i >= len(d.b) {
		d.fail("invalid JSON: unexpected end of frame")
	} else {
		d.fail("invalid JSON at offset %d", d.i)
	}
}

// decodeFrame parses the object b into f. ID and Data alias b.
func decodeFrame(b []byte, f *Frame) *Error {
	d := decoder{b: b}
	if d.peek() != '{' {
		if d.i < len(b) && d.validValue() && d.atEnd() {
			return errorf(CodeBadRequest, "a frame must be a JSON object")
		}
		d.syntax()
		return d.err
	}
	d.i++
	if d.peek() == '}' {
		d.i++
	} else {
		for d.err == nil {
			key, ok := d.stringRaw()
			if !ok || !d.expect(':') {
				d.syntax()
				break
			}
			if bytes.IndexByte(key, '\\') >= 0 { // rare: "\u0074ype" is "type"
				key = []byte(unquote(key))
			}
			d.field(f, key)
			if d.err != nil {
				break
			}
			if d.peek() == ',' {
				d.i++
				continue
			}
			d.expect('}')
			break
		}
	}
	if d.err == nil && !d.atEnd() {
		d.fail("invalid JSON: data after the frame at offset %d", d.i)
	}
	if d.err != nil {
		return d.err
	}
	return d.bad
}

// field decodes the value of key into f, or skips it if the protocol has no such field.
func (d *decoder) field(f *Frame, key []byte) {
	var dst *string
	switch string(key) { // no allocation: the compiler compares in place
	case "type":
		dst = &f.Type
	case "room":
		dst = &f.Room
	case "ns":
		dst = &f.NS
	case "to":
		dst = &f.To
	case "token":
		dst = &f.Token
	case "resume":
		dst = &f.Resume
	case "mode":
		dst = &f.Mode
	case "lastSeq":
		f.LastSeq = d.whole("lastSeq")
		return
	case "switch":
		f.Switch = d.whole("switch")
		return
	case "failed":
		f.Failed = d.raw()
		return
	case "id":
		start := d.i
		switch c := d.peek(); {
		case c == '"':
			start = d.i
			if _, ok := d.stringRaw(); ok {
				f.ID = d.b[start:d.i]
			}
		case c == '-' || c >= '0' && c <= '9':
			start = d.i
			if d.number() {
				f.ID = d.b[start:d.i]
			}
		case c == 'n':
			d.literal("null")
			f.ID = nil
		default:
			f.ID = nil
			if d.validValue() {
				d.wrongType(`field "id" has the wrong type: want string or number`)
			}
		}
		if len(f.ID) > MaxIDBytes {
			f.ID = nil
			d.wrongType("id longer than %d bytes", MaxIDBytes)
		}
		return
	case "data":
		f.Data = d.raw()
		return
	default:
		d.validValue()
		return
	}
	switch d.peek() {
	case '"':
		raw, ok := d.stringRaw()
		if ok {
			*dst = unquote(raw)
		}
	case 'n':
		d.literal("null")
		*dst = ""
	default:
		if d.validValue() {
			d.wrongType("field %q has the wrong type: want string", key)
		}
	}
}

// raw returns the JSON value at d.i as it is (a slice of the input), nil for
// null (which counts as absent) or an invalid value.
func (d *decoder) raw() []byte {
	d.ws()
	start := d.i
	if !d.validValue() {
		return nil
	}
	if v := d.b[start:d.i]; string(v) != "null" {
		return v
	}
	return nil
}

// whole decodes the value of field key ("lastSeq", "switch"): a whole
// number from 0 to 2^53-1 (what a JavaScript number holds exactly), written
// without fraction or exponent; null is 0.
func (d *decoder) whole(key string) uint64 {
	switch c := d.peek(); {
	case c == 'n':
		d.literal("null")
		return 0
	case c >= '0' && c <= '9':
		start := d.i
		if !d.number() {
			return 0
		}
		n, err := strconv.ParseUint(string(d.b[start:d.i]), 10, 64)
		if err != nil || n > maxSafeInteger {
			d.wrongType(`field %q must be a whole number from 0 to 2^53-1`, key)
			return 0
		}
		return n
	default:
		if d.validValue() {
			d.wrongType(`field %q must be a whole number from 0 to 2^53-1`, key)
		}
		return 0
	}
}

// maxSafeInteger is the largest integer a JavaScript number holds exactly.
const maxSafeInteger = 1<<53 - 1

// stringRaw reads a JSON string at d.i and returns its contents, escapes
// still in place, after checking them.
func (d *decoder) stringRaw() ([]byte, bool) {
	if d.peek() != '"' {
		d.syntax()
		return nil, false
	}
	d.i++
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return d.b[start : d.i-1], true
		case c == '\\':
			if d.i+1 >= len(d.b) {
				d.syntax()
				return nil, false
			}
			switch d.b[d.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i += 2
			case 'u':
				if d.i+6 > len(d.b) || !isHex4(d.b[d.i+2:d.i+6]) {
					d.syntax()
					return nil, false
				}
				d.i += 6
			default:
				d.syntax()
				return nil, false
			}
		case c < 0x20:
			d.syntax()
			return nil, false
		default:
			d.i++
		}
	}
	d.syntax()
	return nil, false
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		default:
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// unquote resolves the escapes of a string checked by stringRaw, as
// encoding/json does (a lone surrogate becomes U+FFFD).
func unquote(raw []byte) string {
	i := 0
	for i < len(raw) && raw[i] != '\\' {
		i++
	}
	if i == len(raw) {
		return string(raw)
	}
	out := make([]byte, 0, len(raw))
	out = append(out, raw[:i]...)
	for i < len(raw) {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		e := raw[i+1]
		i += 2
		switch e {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(raw[i:])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2 = utf16.DecodeRune(r, hex4(raw[i+2:]))
					if r2 != utf8.RuneError {
						i += 6
					}
				}
				r = r2
			}
			out = utf8.AppendRune(out, r)
		default: // '"', '\\', '/'
			out = append(out, e)
		}
	}
	return string(out)
}

func (d *decoder) literal(lit string) bool {
	if len(d.b)-d.i < len(lit) || string(d.b[d.i:d.i+len(lit)]) != lit {
		d.syntax()
		return false
	}
	d.i += len(lit)
	return true
}

// number checks a JSON number at d.i.
func (d *decoder) number() bool {
	b, i := d.b, d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		d.i = i
		d.syntax()
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.i = i
			d.syntax()
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.i = i
			d.syntax()
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	d.i = i
	return true
}

// validValue checks one JSON value at d.i and moves past it, without
// recursion: stack holds '{' or '[' per open container.
func (d *decoder) validValue() bool {
	var stackBuf [32]byte
	stack := stackBuf[:0]
	for {
		// A value.
		switch c := d.peek(); {
		case c == '{' || c == '[':
			d.i++
			if closer := c + 2; d.peek() == closer { // '{'+2 is '}', '['+2 is ']'
				d.i++
				break
			}
			if len(stack) == maxDepth {
				d.fail("JSON nested deeper than %d levels", maxDepth)
				return false
			}
			stack = append(stack, c)
			if c == '{' {
				if _, ok := d.stringRaw(); !ok || !d.expect(':') {
					return false
				}
			}
			continue
		case c == '"':
			if _, ok := d.stringRaw(); !ok {
				return false
			}
		case c == '-' || c >= '0' && c <= '9':
			if !d.number() {
				return false
			}
		case c == 't':
			if !d.literal("true") {
				return false
			}
		case c == 'f':
			if !d.literal("false") {
				return false
			}
		case c == 'n':
			if !d.literal("null") {
				return false
			}
		default:
			d.syntax()
			return false
		}
		// After a value: close containers or go on to the next element.
		for {
			if len(stack) == 0 {
				return true
			}
			top := stack[len(stack)-1]
			switch d.peek() {
			case ',':
				d.i++
				if top == '{' {
					if _, ok := d.stringRaw(); !ok || !d.expect(':') {
						return false
					}
				}
			case top + 2: // the closer of the innermost container
				d.i++
				stack = stack[:len(stack)-1]
				continue
			default:
				d.syntax()
				return false
			}
			break
		}
	}
}
