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

// TrackEntries is how many incoming tracks (simulcast layers each) the
// room holds.
func TrackEntries(s *SFU, room string) int {
	s.mu.Lock()
	r := s.rooms[room]
	s.mu.Unlock()
	if r == nil {
		return -1
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.tracks)
}

// LayerBitrate is the bitrate the SFU receives of layer rid of peer's
// track (false: no such layer).
func LayerBitrate(s *SFU, room, peer, track, rid string) (uint64, bool) {
	p, err := s.participant(room, peer)
	if err != nil {
		return 0, false
	}
	p.r.mu.RLock()
	defer p.r.mu.RUnlock()
	for up, t := range p.r.tracks {
		if t.owner == p && up.ID() == track && up.RID() == rid {
			return up.Bitrate(), true
		}
	}
	return 0, false
}
