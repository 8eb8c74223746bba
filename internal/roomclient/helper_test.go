package roomclient_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/roomclient"
	"github.com/switchboard-rtc/switchboard/internal/testutil"
)

// dial starts a client named name in room, closed at the test's end.
func dial(t *testing.T, srv *testutil.Server, name, room string) *roomclient.Client {
	t.Helper()
	return dialWith(t, srv, name, room, nil)
}

// dialWith is dial with a change to the Config.
func dialWith(t *testing.T, srv *testutil.Server, name, room string, change func(*roomclient.Config)) *roomclient.Client {
	t.Helper()
	var logger *slog.Logger
	if os.Getenv("ROOMCLIENT_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := roomclient.Config{WSURL: srv.WSURL, Token: srv.Token(t, name, room), Room: room,
		Name: name, Video: true, Logger: logger,
		OnEvent: func(e roomclient.Event) {
			if e.Kind == roomclient.EventError {
				t.Logf("%s: %v", name, e.Err)
			}
		}}
	if change != nil {
		change(&cfg)
	}
	c, err := roomclient.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", d, what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settled: every client sees every other on path p for data and media,
// with media flowing in the last second.
func settled(cs []*roomclient.Client, p roomclient.Path) func() error {
	return settledPairs(cs, func(_, _ *roomclient.Client) roomclient.Path { return p })
}

// settledPairs is settled with a path for each pair (PathNone: any).
func settledPairs(cs []*roomclient.Client, path func(a, b *roomclient.Client) roomclient.Path) func() error {
	return func() error {
		for _, c := range cs {
			peers := c.Peers()
			for _, o := range cs {
				if o == c {
					continue
				}
				ps, ok := peers[o.ID()]
				if !ok || ps.Left {
					return fmt.Errorf("%s does not see %s", c.Name(), o.Name())
				}
				p := path(c, o)
				if p == roomclient.PathNone {
					continue // a pair the test does not expect anything of
				}
				if ps.Data != p || ps.Media != p {
					return fmt.Errorf("%s sees %s on data %v media %v, want %v", c.Name(), o.Name(), ps.Data, ps.Media, path(c, o))
				}
				if time.Since(ps.LastMedia) > time.Second {
					return fmt.Errorf("%s: no media from %s since %v", c.Name(), o.Name(), ps.LastMedia)
				}
			}
		}
		return nil
	}
}

// talker broadcasts numbered messages from each client until stopped.
type talker struct {
	t     *testing.T
	phase string // payloads are "phase:number"
	every time.Duration
	mu    sync.Mutex
	sent  map[string]int           // by sender id: the last number sent
	stops map[string]chan struct{} // by sender id
	dones map[string]chan struct{}
}

var phases int // talkers so far (tests in a package run one at a time)

func startTalking(t *testing.T, cs []*roomclient.Client, every time.Duration) *talker {
	phases++
	tk := &talker{t: t, phase: strconv.Itoa(phases), every: every, sent: map[string]int{}, stops: map[string]chan struct{}{}, dones: map[string]chan struct{}{}}
	for _, c := range cs {
		tk.add(c)
	}
	t.Cleanup(func() { tk.halt() })
	return tk
}

// add makes c talk too.
func (tk *talker) add(c *roomclient.Client) {
	stop, done := make(chan struct{}), make(chan struct{})
	tk.mu.Lock()
	tk.stops[c.ID()], tk.dones[c.ID()] = stop, done
	tk.mu.Unlock()
	go func() {
		defer close(done)
		tick := time.NewTicker(tk.every)
		defer tick.Stop()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if err := c.Send("", []byte(tk.phase+":"+strconv.Itoa(i)), true); err != nil {
				tk.t.Errorf("%s: send %d: %v", c.Name(), i, err)
				return
			}
			tk.mu.Lock()
			tk.sent[c.ID()] = i
			tk.mu.Unlock()
		}
	}()
}

// quiet stops c's talking.
func (tk *talker) quiet(c *roomclient.Client) {
	tk.mu.Lock()
	stop, done := tk.stops[c.ID()], tk.dones[c.ID()]
	delete(tk.stops, c.ID())
	tk.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// halt stops everyone and returns the last number each sent.
func (tk *talker) halt() map[string]int {
	tk.mu.Lock()
	var stops, dones []chan struct{}
	for id, s := range tk.stops {
		stops, dones = append(stops, s), append(dones, tk.dones[id])
	}
	clear(tk.stops)
	tk.mu.Unlock()
	for i, s := range stops {
		close(s)
		<-dones[i]
	}
	tk.mu.Lock()
	defer tk.mu.Unlock()
	out := make(map[string]int, len(tk.sent))
	for k, v := range tk.sent {
		out[k] = v
	}
	return out
}

// checkData: at every receiver, each sender's messages arrived in order,
// once, every one from the first it got up to the last sent (from, if
// both sender and receiver are in early, the first must be among the
// first few: nothing was missed at the start).
// phaseMessages returns what rc delivered from sc in tk's phase, and the
// number a message of the phase carries.
func phaseMessages(tk *talker, rc, sc *roomclient.Client) []roomclient.Message {
	var got []roomclient.Message
	for _, m := range rc.Messages(sc.ID()) {
		if strings.HasPrefix(string(m.Payload), tk.phase+":") {
			got = append(got, m)
		}
	}
	return got
}

func (tk *talker) num(m roomclient.Message) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(string(m.Payload), tk.phase+":"))
	return n
}

// drain stops the talking and waits until every client has delivered the
// last message each other one sent (checkData then says what went wrong
// if that never comes).
func drain(t *testing.T, tk *talker, cs []*roomclient.Client) map[string]int {
	t.Helper()
	sent := tk.halt()
	waitFor(t, "the last messages", 10*time.Second, func() error {
		for _, rc := range cs {
			for _, sc := range cs {
				if rc == sc {
					continue
				}
				got := phaseMessages(tk, rc, sc)
				if len(got) == 0 || tk.num(got[len(got)-1]) != sent[sc.ID()] {
					return fmt.Errorf("%s has not delivered %s's message %d", rc.Name(), sc.Name(), sent[sc.ID()])
				}
			}
		}
		return nil
	})
	return sent
}

func checkData(t *testing.T, tk *talker, cs []*roomclient.Client, sent map[string]int, early map[string]bool) {
	t.Helper()
	num := tk.num
	for _, rc := range cs {
		for _, sc := range cs {
			if rc == sc {
				continue
			}
			last := sent[sc.ID()]
			got := phaseMessages(tk, rc, sc)
			if len(got) == 0 {
				t.Errorf("%s got nothing from %s (sent %d)", rc.Name(), sc.Name(), last)
				continue
			}
			first := num(got[0])
			if early[rc.ID()] && early[sc.ID()] && first > 3 {
				t.Errorf("%s: first message from %s is %d", rc.Name(), sc.Name(), first)
			}
			var bad []string
			for i, m := range got {
				if n := num(m); n != first+i {
					bad = append(bad, fmt.Sprintf("#%d=%s(seq %d via %v)", i, m.Payload, m.Seq, m.Path))
					if len(bad) > 5 {
						break
					}
				}
			}
			if len(bad) > 0 {
				t.Errorf("%s from %s: out of order, missing or twice: %s", rc.Name(), sc.Name(), strings.Join(bad, " "))
			}
			if n := num(got[len(got)-1]); n != last {
				t.Errorf("%s from %s: last %d, sent up to %d", rc.Name(), sc.Name(), n, last)
			}
		}
	}
}

// gaps logs the longest media gap each client saw from each other one and
// fails above bound.
func gaps(t *testing.T, cs []*roomclient.Client, bound time.Duration) {
	t.Helper()
	var worst time.Duration
	for _, rc := range cs {
		peers := rc.Peers()
		var line []string
		for _, sc := range cs {
			if sc == rc {
				continue
			}
			ps := peers[sc.ID()]
			line = append(line, fmt.Sprintf("%s %v", sc.Name(), ps.MaxGap.Round(time.Millisecond)))
			worst = max(worst, ps.MaxGap)
			if ps.MaxGap > bound {
				t.Errorf("%s: media gap from %s %v, bound %v", rc.Name(), sc.Name(), ps.MaxGap, bound)
			}
		}
		t.Logf("longest media gaps at %s: %s", rc.Name(), strings.Join(line, ", "))
	}
	t.Logf("longest media gap overall: %v", worst.Round(time.Millisecond))
}

func resetGaps(cs []*roomclient.Client) {
	for _, c := range cs {
		c.ResetGaps()
	}
}
