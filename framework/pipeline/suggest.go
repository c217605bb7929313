// "Did you mean" suggestions: the closest known name by edit distance.

package pipeline

import (
	"fmt"
	"sort"
)

// suggest returns the candidate closest to name, or "" when none is close
// enough to be a plausible typo: at most 2 edits, or a third of the name's
// length for long names.
func suggest(name string, candidates []string) string {
	best, bestDist := "", -1
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted) // ties resolve the same way every run
	for _, c := range sorted {
		d := editDistance(name, c)
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := 2
	if n := len([]rune(name)) / 3; n > limit {
		limit = n
	}
	if bestDist < 0 || bestDist > limit || bestDist >= len([]rune(name)) {
		return ""
	}
	return best
}

// didYouMean is " Did you mean \"x\"?" for the closest candidate, or "".
func didYouMean(name string, candidates []string) string {
	if s := suggest(name, candidates); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, over runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
