// Command switchboard is the Switchboard server: WebSocket signaling for
// WebRTC peers and an embedded TURN server, with the web SDK and demo pages
// embedded.
//
//	switchboard serve [flags]     run the server (every flag also reads SWITCHBOARD_<NAME>)
//	switchboard token [flags]     print a signed token
//	switchboard bench signaling   drive a running server's signaling and measure it
//	switchboard bench turn        drive a running server's TURN relay and measure it
package main

import (
	"fmt"
	"os"
)

const usage = `switchboard: self-hosted WebRTC signaling and TURN

Usage:
  switchboard serve [flags]            run the server (try --dev, then open http://localhost:8080/)
  switchboard token --secret S --user U [--room R]... [--ttl 1h]
                                       print an HS256 token
  switchboard bench signaling [flags]  load a running server and report throughput, latency, memory
  switchboard bench turn [flags]       load a running TURN server: packets/s, Mbit/s, loss, memory per allocation
  switchboard help COMMAND             flags of a command

Every serve flag can also be set with an environment variable: --jwt-secret is SWITCHBOARD_JWT_SECRET.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "serve":
		err = runServe(args)
	case "token":
		err = runToken(args)
	case "bench":
		err = runBench(args)
	case "help", "-h", "--help":
		if len(args) > 0 {
			err = runHelp(args[0])
		} else {
			fmt.Print(usage)
		}
	default:
		fmt.Fprintf(os.Stderr, "switchboard: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "switchboard:", err)
		os.Exit(1)
	}
}

func runHelp(cmd string) error {
	switch cmd {
	case "serve":
		return runServe([]string{"-h"})
	case "token":
		return runToken([]string{"-h"})
	case "bench":
		return runBench([]string{"-h"})
	}
	return fmt.Errorf("no command %q", cmd)
}
