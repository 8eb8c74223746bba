//go:build !unix

package bench

func fileLimit() uint64 { return 0 }
