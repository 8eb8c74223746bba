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
	var logger *slog.Logger
	if os.Getenv("ROOMCLIENT_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := roomclient.Dial(ctx, roomclient.Config{WSURL: srv.WSURL, Token: srv.Token(t, name, room), Room: room,
		Name: name, Video: true, Logger: logger,
		OnEvent: func(e roomclient.Event) {
			if e.Kind == roomclient.EventError {
				t.Logf("%s: %v", name, e.Err)
			}
		}})
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
				if ps.Data != p || ps.Media != p {
					return fmt.Errorf("%s sees %s on data %v media %v, want %v", c.Name(), o.Name(), ps.Data, ps.Media, p)
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
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	sent map[string]int // by sender id: the last number sent
}

func startTalking(t *testing.T, cs []*roomclient.Client, every time.Duration) *talker {
	tk := &talker{stop: make(chan struct{}), sent: map[string]int{}}
	for _, c := range cs {
		tk.wg.Add(1)
		go func() {
			defer tk.wg.Done()
			tick := time.NewTicker(every)
			defer tick.Stop()
			for i := 1; ; i++ {
				select {
				case <-tk.stop:
					return
				case <-tick.C:
				}
				if err := c.Send("", []byte(strconv.Itoa(i)), true); err != nil {
					t.Errorf("%s: send %d: %v", c.Name(), i, err)
					return
				}
				tk.mu.Lock()
				tk.sent[c.ID()] = i
				tk.mu.Unlock()
			}
		}()
	}
	return tk
}

func (tk *talker) halt() map[string]int {
	close(tk.stop)
	tk.wg.Wait()
	return tk.sent
}

// checkData: at every receiver, each sender's messages arrived in order,
// once, every one from the first it got up to the last sent (from, if
// set, must be among the first few: nothing was missed at the start).
func checkData(t *testing.T, cs []*roomclient.Client, sent map[string]int, from map[string]bool) {
	t.Helper()
	for _, rc := range cs {
		for _, sc := range cs {
			if rc == sc {
				continue
			}
			last := sent[sc.ID()]
			got := rc.Messages(sc.ID())
			if len(got) == 0 {
				t.Errorf("%s got nothing from %s (sent %d)", rc.Name(), sc.Name(), last)
				continue
			}
			first, _ := strconv.Atoi(string(got[0].Payload))
			if from[rc.ID()] && first > 3 {
				t.Errorf("%s: first message from %s is %d", rc.Name(), sc.Name(), first)
			}
			var bad []string
			for i, m := range got {
				if n, _ := strconv.Atoi(string(m.Payload)); n != first+i {
					bad = append(bad, fmt.Sprintf("#%d=%s(seq %d via %v)", i, m.Payload, m.Seq, m.Path))
					if len(bad) > 5 {
						break
					}
				}
			}
			if len(bad) > 0 {
				t.Errorf("%s from %s: out of order, missing or twice: %s", rc.Name(), sc.Name(), strings.Join(bad, " "))
			}
			if n, _ := strconv.Atoi(string(got[len(got)-1].Payload)); n != last {
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
