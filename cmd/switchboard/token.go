package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling"
)

func runToken(args []string) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	var rooms, nss multiFlag
	secret := fs.String("secret", "", "HS256 secret (the server's --jwt-secret)")
	user := fs.String("user", "", "user id (sub)")
	name := fs.String("name", "", "display name")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	modes := fs.String("modes", "", `room modes pinned for the rooms this user creates, as --room-modes ("p2p-*=mesh,*=auto")`)
	fs.Var(&rooms, "room", `room or pattern ("team-*", "*") granted in the default namespace; repeatable`)
	fs.Var(&nss, "ns", `namespace grant NS=PATTERN ("chat=*"); repeatable`)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "switchboard token: print an HS256 token for a client\n\n  switchboard token --secret S --user alice --room 'team-*' --ns chat='*' --ttl 1h")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *secret == "" {
		*secret = lookupEnv("SWITCHBOARD_JWT_SECRET")
	}
	if *secret == "" || *user == "" {
		return errors.New("token: --secret (or SWITCHBOARD_JWT_SECRET) and --user are required")
	}
	if _, err := signaling.ParseRoomModeRules(*modes); err != nil {
		return fmt.Errorf("token: --modes: %w", err)
	}
	spec := signaling.TokenSpec{User: *user, Name: *name, Rooms: rooms, Modes: *modes, TTL: *ttl}
	for _, g := range nss {
		n, p, ok := strings.Cut(g, "=")
		if !ok || n == "" || p == "" {
			return fmt.Errorf("token: --ns %q: want NS=PATTERN", g)
		}
		if spec.NS == nil {
			spec.NS = map[string][]string{}
		}
		spec.NS[n] = append(spec.NS[n], p)
	}
	tok, err := signaling.MintHS256([]byte(*secret), spec)
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}
