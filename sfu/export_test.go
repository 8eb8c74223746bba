package sfu

// QualityEntries is how many layer choices peer's participant holds.
func QualityEntries(s *SFU, room, peer string) int {
	p, err := s.participant(room, peer)
	if err != nil {
		return -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.quality)
}

// SetStartHook runs f in Join once the subscriber PC is made, before it
// is attached (nil: nothing).
func SetStartHook(f func()) { testHookStarting = f }
