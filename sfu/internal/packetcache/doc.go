// Package packetcache keeps the recent RTP packets of one incoming track in a
// fixed ring, so that the SFU can answer a subscriber's generic NACK
// (RFC 4585, section 6.2.1) itself instead of asking the publisher, and can
// send a new subscriber the packets of the last keyframe.
//
// A Cache has a fixed number of slots (a power of two) and one preallocated
// buffer of MaxPacketSize bytes per slot; the packet with sequence number seq
// lives in slot seq mod Slots, so Store and Get are O(1) and 16-bit
// wraparound needs no special case. Nothing is allocated after New.
//
// The cache knows nothing of codecs: finding a keyframe is the caller's job
// (it knows from the payload where a keyframe starts); the cache then hands
// out that packet and the ones after it by sequence number.
//
// # Memory
//
// A cache holds Slots*(MaxPacketSize+24)+80 bytes, full or not: with the
// defaults (512 slots of 1,500 bytes, for video) that is 780,368 bytes
// (762 KiB) per track; 128 slots for audio take 195,152 bytes (191 KiB).
// At 500 packets a second (a 4 Mbit/s video layer) 512 slots
// cover about one second, enough for a NACK after one round trip.
//
// # Concurrency
//
// One writer and any number of readers: Store and Reset must be called from
// one goroutine at a time (the publisher's reader); Get, Has and Last may be
// called from any number of goroutines at the same time as the writer (the
// NACK responders of the subscribers). Each slot has its own mutex, held
// only while a packet is copied in or out of that slot; the newest sequence
// number is published with an atomic store after its packet is in place.
package packetcache
