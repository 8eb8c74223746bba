package bench

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

func machineInfo(pids []int) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), FileLimit: fileLimit()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				if f := strings.Fields(v); len(f) > 0 {
					k, _ := strconv.ParseInt(f[0], 10, 64)
					m.MemTotal = k << 10
				}
			}
		}
	}
	m.GenCPUs = cpusAllowed("self")
	var srv []string
	for _, pid := range pids {
		c := "?"
		if pid > 0 {
			c = cpusAllowed(strconv.Itoa(pid))
		}
		srv = append(srv, c)
	}
	m.ServerCPUs = strings.Join(srv, ",")
	return m
}

// cpusAllowed is Cpus_allowed_list of /proc/PID/status ("0-1", "0"), "?" if unknown.
func cpusAllowed(pid string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%s/status", pid))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
