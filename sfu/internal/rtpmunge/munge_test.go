package rtpmunge

import (
	"errors"
	"testing"
)

func TestSteady(t *testing.T) {
	table{
		{"first source goes out unchanged", []step{
			sw(a), pkt(a, 100, 1000).same(), end(a, 101, 1000).same(), pkt(a, 102, 4000).same(),
		}},
		{"nothing before a switch", []step{
			pkt(a, 1, 10).drop(), skip(pkt(a, 2, 10)), rev(1), sw(a), pkt(a, 3, 20).same(),
		}},
		{"other sources dropped", []step{
			sw(a), pkt(a, 1, 10).same(), pkt(b, 2, 10).drop(), skip(pkt(b, 3, 20)), pkt(a, 2, 20).same(),
		}},
		{"sequence number wraparound", []step{
			sw(a), pkt(a, 65534, 10).same(), pkt(a, 65535, 10).same(), pkt(a, 0, 20).same(), pkt(a, 1, 20).same(),
			rev(65535).is(65535), rev(0).is(0), rev(1).is(1), rev(2),
		}},
		{"timestamp wraparound", []step{
			sw(a), pkt(a, 10, 0xffffff00).same(), end(a, 11, 0xffffff00).same(), pkt(a, 12, 0x200).same(),
		}},
	}.run(t)
}

func TestSwitch(t *testing.T) {
	table{
		{"continuity: next number, timestamp plus elapsed time", []step{
			sw(a), at(0), pkt(a, 100, 1000).same(), end(a, 101, 1000).same(),
			at(33), pkt(a, 102, 4000).same(), end(a, 103, 4000).same(),
			at(133), sw(b), // 100 ms after timestamp 4000 went out: 9000 at 90 kHz
			pkt(b, 5000, 777).to(104, 13000), end(b, 5001, 777).to(105, 13000),
			at(166), pkt(b, 5002, 3777).to(106, 16000),
			pkt(a, 104, 7000).drop(),         // the old source
			pkt(b, 4999, 700).drop(),         // before the switch
			pkt(b, 5001, 777).to(105, 13000), // a retransmission after it
		}},
		{"no time elapsed: timestamp plus 1", []step{
			at(0), sw(a), pkt(a, 1, 1000).same(), sw(b), pkt(b, 900, 5).to(2, 1001),
		}},
		{"clock gone backwards: timestamp plus 1", []step{
			at(50), sw(a), pkt(a, 1, 1000).same(), at(10), sw(b), pkt(b, 900, 5).to(2, 1001),
		}},
		{"back to the same source", []step{
			sw(a), pkt(a, 1, 100).same(), at(10), sw(a), pkt(a, 2, 1000).same(),
			pkt(a, 1, 100).drop(), // before the switch, though of the same source
		}},
		{"wraparound at the switch", []step{
			sw(a), pkt(a, 65534, 0xfffffff0).same(), pkt(a, 65535, 0xfffffff0).same(),
			at(1000), sw(b), pkt(b, 10, 5).to(0, 89984), pkt(b, 11, 5).to(1, 89984),
			rev(65535), rev(0).is(10),
		}},
		{"a frame cut short: its hole goes to the new source", []step{
			sw(a), pkt(a, 1, 100).same(), skip(pkt(a, 2, 100)), sw(b), pkt(b, 50, 9).to(2, 101),
		}},
		{"first packet after a switch skipped", []step{
			sw(a), end(a, 1, 100).same(), sw(b),
			skip(pkt(b, 70, 5)), pkt(b, 71, 5).drop(), end(b, 72, 5).drop(), // the rest of its frame
			pkt(b, 73, 3005).to(2, 101), pkt(b, 70, 5).drop(),
		}},
	}.run(t)
}

func TestSkip(t *testing.T) {
	table{
		{"a whole frame leaves no gap", []step{
			sw(a), pkt(a, 1, 100).same(), end(a, 2, 100).same(),
			skip(pkt(a, 3, 200)), skip(end(a, 4, 200)),
			pkt(a, 5, 300).to(3, 300), rev(3).is(5), rev(2).is(2),
		}},
		{"a pause: timestamps keep the wall clock", []step{
			sw(a), end(a, 1, 100).same(),
			skip(end(a, 2, 200)), skip(pkt(a, 3, 300)), skip(end(a, 4, 300)), skip(end(a, 5, 400)),
			pkt(a, 6, 500).to(2, 500), rev(2).is(6), rev(1).is(1),
		}},
		{"in the middle of a forwarded frame: a hole", []step{
			sw(a), pkt(a, 1, 100).same(), skip(pkt(a, 2, 100)), end(a, 3, 100).same(), pkt(a, 4, 200).same(),
			rev(2).is(2), pkt(a, 2, 100).same(), // the retransmission fills it
		}},
		{"a frame's beginning skipped: its rest too", []step{
			sw(a), end(a, 1, 100).same(), skip(pkt(a, 2, 200)), pkt(a, 3, 200).drop(), end(a, 4, 200).drop(),
			pkt(a, 5, 300).to(2, 300), pkt(a, 3, 200).drop(), rev(2).is(5),
		}},
		{"padding after a frame's end", []step{
			sw(a), end(a, 1, 100).same(), skip(pkt(a, 2, 100)), skip(pkt(a, 3, 100)), pkt(a, 4, 200).to(2, 200),
		}},
		{"after a loss: the lost packet keeps its number", []step{
			sw(a), end(a, 1, 100).same(), skip(end(a, 3, 200)), pkt(a, 4, 300).to(3, 300),
			rev(2).is(2), rev(3).is(4), pkt(a, 2, 150).same(),
		}},
		{"a skipped packet retransmitted is dropped", []step{
			sw(a), end(a, 1, 100).same(), skip(end(a, 2, 200)), pkt(a, 3, 300).to(2, 300), end(a, 2, 200).drop(),
		}},
		{"audio: every packet is a frame", []step{
			sw(a), pkt(a, 1, 960).same(), skip(pkt(a, 2, 1920)), pkt(a, 3, 2880).to(2, 2880),
			skip(pkt(a, 4, 3840)), skip(pkt(a, 5, 4800)), pkt(a, 6, 5760).to(3, 5760),
		}},
		{"a late packet keeps its number", []step{
			sw(a), pkt(a, 1, 100).same(), pkt(a, 3, 300).same(), skip(pkt(a, 2, 200)), pkt(a, 4, 400).same(), rev(2).is(2),
		}},
		{"across wraparound", []step{
			sw(a), end(a, 65535, 100).same(), skip(end(a, 0, 200)), pkt(a, 1, 300).to(0, 300),
			rev(0).is(1), rev(65535).is(65535), rev(1),
		}},
	}.run(t)
}

func TestReorder(t *testing.T) {
	table{
		{"within the window", []step{
			sw(a), pkt(a, 1, 100).same(), pkt(a, 3, 100).same(), pkt(a, 2, 100).same(), pkt(a, 4, 100).same(),
			pkt(a, 4, 100).same(), // a duplicate
		}},
		{"a retransmission keeps its number and timestamp", []step{
			sw(a), pkt(a, 1, 100).same(), sw(b),
			pkt(b, 500, 7).to(2, 101), pkt(b, 501, 7).to(3, 101), pkt(b, 502, 3007).to(4, 3101),
			pkt(b, 501, 7).to(3, 101),
		}},
		{"the window's edge", []step{
			sw(a), pkt(a, 10, 0).same(), pkt(a, 10+Window, 5).same(),
			pkt(a, 11, 0).same(), pkt(a, 10, 0).drop(), rev(11).is(11), rev(10),
		}},
		{"across wraparound", []step{
			sw(a), pkt(a, 65535, 1).same(), pkt(a, 1, 1).same(), pkt(a, 0, 1).same(), pkt(a, 65534, 1).drop(),
		}},
	}.run(t)
}

func TestReverse(t *testing.T) {
	table{
		{"only what the current source sent", []step{
			sw(a), rev(5), pkt(a, 5, 0).same(), rev(6), rev(5).is(5), rev(4),
			sw(b), rev(5), pkt(b, 99, 0).to(6, 1), rev(5), rev(6).is(99),
		}},
	}.run(t)
}

// TestHistory cuts the stream into more segments than a Munger remembers:
// a late packet from before them is dropped, one from after them mapped.
func TestHistory(t *testing.T) {
	steps := []step{sw(a), end(a, 1, 0).same(), pkt(a, 3, 100).same()}
	seq, out := uint16(4), uint16(4) // 2 is late
	for k := range history {
		ts := uint32(200 + 100*k)
		steps = append(steps, end(a, seq, ts).to(out, ts), skip(end(a, seq+1, ts+50)))
		seq, out = seq+2, out+1
	}
	steps = append(steps,
		pkt(a, 2, 50).drop(),          // its segment is forgotten
		end(a, 4+2*5, 700).to(9, 700), // a retransmission from a segment remembered
		rev(9).is(14), rev(2),
	)
	run(t, steps)
}

func TestSwitchRefusesZeroClock(t *testing.T) {
	if err := New(out).Switch(a, 0); !errors.Is(err, ErrBadClockRate) {
		t.Errorf("Switch(clock 0) = %v, want ErrBadClockRate", err)
	}
}
