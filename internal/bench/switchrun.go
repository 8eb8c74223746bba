package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/roomclient"
)

// switchRunner is one RunSwitch: one auto room that grows past the
// mesh's size and shrinks back, Switches times.
type switchRunner struct {
	cfg     SwitchConfig
	out     io.Writer
	runID   string
	client  *http.Client
	room    string
	dialed  int
	clients []*roomclient.Client // in the room now, oldest first
	errNote
}

// RunSwitch measures switches of an auto room between the mesh and the
// SFU on a running Switchboard, with roomclient participants publishing
// synthetic video: the time from the first participant's mode frame to
// the last one's media from every other on the new path, and the longest
// media gap any subscriber saw. It writes progress, a RESULT line per
// direction and a summary to out.
func RunSwitch(ctx context.Context, cfg SwitchConfig, out io.Writer) (SwitchResult, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return SwitchResult{}, err
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	r := &switchRunner{cfg: cfg, out: out, runID: hex.EncodeToString(id[:]), client: newHTTPClient()}
	r.room = cfg.RoomPrefix + r.runID
	defer r.client.CloseIdleConnections()
	res := SwitchResult{Label: cfg.Label, Machine: machineInfo([]int{findPID(cfg.URL)}), MeshMax: cfg.MeshMax,
		ToSFU:  SwitchDir{Direction: "to_sfu", Size: cfg.MeshMax + 1},
		ToMesh: SwitchDir{Direction: "to_mesh", Size: cfg.MeshMax - 1}}
	err := r.run(ctx, &res)
	res.FirstError, res.Noted = r.firstError(), r.notedErrs()
	fmt.Fprintln(out, res.line(res.ToSFU))
	fmt.Fprintln(out, res.line(res.ToMesh))
	res.WriteSummary(out)
	return res, err
}

func (r *switchRunner) logf(format string, args ...any) { logf(r.out, format, args...) }

func (r *switchRunner) run(ctx context.Context, res *SwitchResult) error {
	defer func() { r.leave(len(r.clients)) }()
	cfg := &r.cfg
	logMachine(r.out, res.Machine)
	r.logf("target: %s room %s: mesh of %d, +1 to the SFU, -2 back (hold %v); video every %v", cfg.URL, r.room, cfg.MeshMax, cfg.Hold, cfg.PacketEvery)
	for len(r.clients) < cfg.MeshMax {
		if err := r.join(ctx); err != nil {
			return err
		}
	}
	if err := r.settle(ctx, roomclient.PathMesh, cfg.Settle); err != nil {
		return fmt.Errorf("%w: the first %d never formed a mesh: %w", ErrNotAuto, cfg.MeshMax, err)
	}
	id := 0
	for i := range cfg.Switches {
		movers := slices.Clone(r.clients)
		r.resetGaps()
		if err := r.join(ctx); err != nil {
			return err
		}
		id++
		if err := r.measure(ctx, movers, id, roomclient.PathSFU, cfg.Settle, &res.ToSFU); err != nil {
			return err
		}
		r.logf("switch %d/%d to the SFU: %v, longest gap %v", i+1, cfg.Switches, last(res.ToSFU.Times), last(res.ToSFU.Gaps))
		r.leave(2)
		r.resetGaps()
		id++
		if err := r.measure(ctx, slices.Clone(r.clients), id, roomclient.PathMesh, cfg.Settle+cfg.Hold, &res.ToMesh); err != nil {
			return err
		}
		r.logf("switch %d/%d back to a mesh: %v, longest gap %v", i+1, cfg.Switches, last(res.ToMesh.Times), last(res.ToMesh.Gaps))
		if err := r.join(ctx); err != nil { // MeshMax again: still a mesh
			return err
		}
		if err := r.settle(ctx, roomclient.PathMesh, cfg.Settle); err != nil {
			r.noteErr(err)
		}
	}
	return ctx.Err()
}

func last(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[len(ds)-1].Round(time.Millisecond)
}

// join adds a participant.
func (r *switchRunner) join(ctx context.Context) error {
	r.dialed++
	name := fmt.Sprintf("s%d", r.dialed)
	tok, err := helloToken(ctx, r.client, r.cfg.URL, r.cfg.Secret, r.cfg.Token, "bench-"+r.runID+"-"+name, SwitchBudget(r.cfg)+time.Hour)
	if err != nil {
		return err
	}
	c, err := roomclient.Dial(ctx, roomclient.Config{WSURL: r.cfg.URL, Token: tok, Room: r.room, Name: name,
		Video: true, PacketEvery: r.cfg.PacketEvery,
		OnEvent: func(e roomclient.Event) {
			if e.Kind == roomclient.EventError {
				r.noteErr(fmt.Errorf("%s: %w", name, e.Err))
			}
		}})
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNoSessions, name, err)
	}
	r.clients = append(r.clients, c)
	return nil
}

// leave closes the n newest participants.
func (r *switchRunner) leave(n int) {
	for _, c := range r.clients[len(r.clients)-n:] {
		_ = c.Close()
	}
	r.clients = r.clients[:len(r.clients)-n]
}

func (r *switchRunner) resetGaps() {
	for _, c := range r.clients {
		c.ResetGaps()
	}
}

// settled reports whether every participant has every other's data and
// media on path p, the media fresh.
func (r *switchRunner) settled(p roomclient.Path) error {
	for _, c := range r.clients {
		peers := c.Peers()
		for _, o := range r.clients {
			if o == c {
				continue
			}
			ps, ok := peers[o.ID()]
			switch {
			case !ok:
				return fmt.Errorf("%s does not see %s", c.Name(), o.Name())
			case ps.Data != p || ps.Media != p:
				return fmt.Errorf("%s has %s on data %v media %v", c.Name(), o.Name(), ps.Data, ps.Media)
			case time.Since(ps.LastMedia) > time.Second:
				return fmt.Errorf("%s: no media from %s for %v", c.Name(), o.Name(), time.Since(ps.LastMedia))
			}
		}
	}
	return nil
}

// settle waits until the room is settled on p.
func (r *switchRunner) settle(ctx context.Context, p roomclient.Path, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := r.settled(p)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// measure waits for switch id to settle on p and records it: the movers
// are the participants that got its mode frame.
func (r *switchRunner) measure(ctx context.Context, movers []*roomclient.Client, id int, p roomclient.Path, wait time.Duration, d *SwitchDir) error {
	err := r.settle(ctx, p, wait)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var modeAt, movedAt time.Time
	seen := 0
	for _, c := range movers {
		var mode, moved *roomclient.Event
		for _, e := range c.Events() {
			if e.Switch != id {
				continue
			}
			switch e.Kind {
			case roomclient.EventMode:
				mode = &e
			case roomclient.EventMoved:
				moved = &e
				if len(e.Failed) > 0 {
					d.Failed++
				}
			}
		}
		if mode == nil {
			continue
		}
		seen++
		if modeAt.IsZero() || mode.At.Before(modeAt) {
			modeAt = mode.At
		}
		if moved == nil {
			err = fmt.Errorf("%s never moved in switch %d", c.Name(), id)
		} else if moved.At.After(movedAt) {
			movedAt = moved.At
		}
	}
	if seen == 0 {
		return fmt.Errorf("%w: no participant saw switch %d (is --mesh-max %d right?)", ErrNotAuto, id, r.cfg.MeshMax)
	}
	if err != nil {
		r.noteErr(fmt.Errorf("switch %d to %v: %w", id, p, err))
	} else {
		d.Settled++
	}
	if !movedAt.IsZero() {
		d.Times = append(d.Times, movedAt.Sub(modeAt))
	}
	var gap time.Duration
	for _, c := range r.clients {
		for _, ps := range c.Peers() {
			if !ps.Left {
				gap = max(gap, ps.MaxGap)
			}
		}
	}
	d.Gaps = append(d.Gaps, gap)
	return nil
}
