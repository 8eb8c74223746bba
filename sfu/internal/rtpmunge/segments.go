package rtpmunge

// history is how many mapping segments a Munger remembers for the current
// source. A segment starts after every skip that closed a gap (a run of
// contiguous skips is one), so history bounds how far back, in skips, a late
// or retransmitted packet can still be mapped; older ones are dropped.
const history = 64

// A segment maps a run of source sequence numbers to outgoing ones with one
// offset: source src (and each one after it, up to the next segment) goes
// out as out (and each one after it). The skip source numbers just before
// src, [src-skip, src), were skipped and have no outgoing number. Both
// numbers are extended: they count wraparounds above the low 16 bits and
// never wrap themselves.
type segment struct {
	src, out, skip uint64
}

// segments is a ring of the last history segments of the current source,
// oldest overwritten first.
type segments struct {
	s      [history]segment
	newest int // index of the newest segment
	n      int // how many are valid, 1 to history
}

func (r *segments) reset(first segment) {
	r.s[0], r.newest, r.n = first, 0, 1
}

func (r *segments) push(s segment) {
	r.newest = (r.newest + 1) % history
	r.s[r.newest] = s
	if r.n < history {
		r.n++
	}
}

func (r *segments) last() *segment { return &r.s[r.newest] }

// out returns the outgoing number of source number src, and false if src
// was skipped or is older than every segment remembered.
func (r *segments) out(src uint64) (uint64, bool) {
	for k, i := 0, r.newest; k < r.n; k, i = k+1, (i+history-1)%history {
		s := &r.s[i]
		if src >= s.src {
			return s.out + (src - s.src), true
		}
		if src >= s.src-s.skip {
			return 0, false
		}
	}
	return 0, false
}

// src returns the source number that went out, or would go out, as out,
// and false if out is older than every segment remembered.
func (r *segments) src(out uint64) (uint64, bool) {
	for k, i := 0, r.newest; k < r.n; k, i = k+1, (i+history-1)%history {
		if s := &r.s[i]; out >= s.out {
			return s.src + (out - s.out), true
		}
	}
	return 0, false
}
