package attribution

import (
	"slices"
	"time"
)

// evictLocked brings a store over maxEntries down to nine tenths of it or
// less. Only the namespaces holding more than a fair share of that lose
// reports (fairShare), by age bands (evictAges): each band drops all their
// reports older than its age, the reports no target wanted with them, until
// none holds more than the share. A tenant flooding writes into its
// namespace loses its own oldest reports, not another tenant's, whose
// changes keep their authors. The caller holds mu.
func (s *Store) evictLocked(now time.Time) {
	counts := map[string]int{}
	s.kept.count(counts)
	s.unwanted.count(counts)
	share := fairShare(counts, maxEntries*9/10)
	for _, age := range s.evictAges() {
		over := map[string]bool{}
		for ns, n := range counts {
			if n > share {
				over[ns] = true
			}
		}
		if len(over) == 0 {
			return
		}
		s.unwanted.evict(now, min(age, UnwantedTTL), over, counts)
		s.kept.evict(now, age, over, counts)
	}
}

// fairShare is the most reports a namespace may keep so that all of them
// together keep at most limit, given how many each holds (counts): the
// largest share such that the sum over namespaces of min(held, share) is at
// most limit. Namespaces holding less than the share lose nothing.
func fairShare(counts map[string]int, limit int) int {
	held := make([]int, 0, len(counts))
	for _, n := range counts {
		held = append(held, n)
	}
	slices.Sort(held)
	left := limit
	for i, n := range held {
		rest := len(held) - i // namespaces holding n or more
		if n*rest > left {
			return left / rest
		}
		left -= n
	}
	if len(held) == 0 {
		return limit
	}
	return held[len(held)-1]
}

// count adds how many reports each namespace holds in t to counts.
func (t *tables) count(counts map[string]int) {
	t.byVersion.count(counts)
	t.otherKeys.count(counts)
	t.byUID.count(counts)
	t.byName.count(counts)
}

// evict drops, in t, the reports older than age (all, when age is
// negative) of the namespaces in over, taking them off counts.
func (t *tables) evict(now time.Time, age time.Duration, over map[string]bool, counts map[string]int) {
	t.byVersion.evict(now, age, over, counts)
	t.otherKeys.evict(now, age, over, counts)
	t.byUID.evict(now, age, over, counts)
	t.byName.evict(now, age, over, counts)
}

func (t *table[K]) count(counts map[string]int) {
	for _, e := range t.m {
		counts[e.by.ns]++
	}
}

func (t *table[K]) evict(now time.Time, age time.Duration, over map[string]bool, counts map[string]int) {
	for k, e := range t.m {
		if over[e.by.ns] && (age < 0 || e.older(now, age)) {
			delete(t.m, k)
			counts[e.by.ns]--
		}
	}
}
