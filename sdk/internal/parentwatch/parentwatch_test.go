package parentwatch

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestPollExitsWhenTheParentChanges(t *testing.T) {
	parents := []int{42, 42, 1}
	calls := 0
	check := func() (string, bool) {
		now := parents[min(calls, len(parents)-1)]
		calls++
		return gone(42, 0, now, func(int) bool { return true })
	}
	done := make(chan string, 1)
	go poll(time.Millisecond, check, func(why string) { done <- why })
	select {
	case why := <-done:
		if calls != 3 || !strings.Contains(why, "process 42") || !strings.Contains(why, "parent is now 1") {
			t.Errorf("exit(%q) after %d checks, expected the new parent 1 after 3", why, calls)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("poll did not notice the new parent")
	}
}

func TestPollChecksAtOnce(t *testing.T) {
	done := make(chan string, 1)
	go poll(time.Hour, func() (string, bool) { return "gone", true }, func(why string) { done <- why })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("poll waited before its first check")
	}
}

func TestGone(t *testing.T) {
	dead := func(int) bool { return false }
	live := func(int) bool { return true }
	if _, ok := gone(7, 0, 7, dead); ok {
		t.Error("gone with the same parent and no host")
	}
	if _, ok := gone(7, 9, 7, live); ok {
		t.Error("gone with the same parent and a live host")
	}
	if why, ok := gone(1, 9, 1, dead); !ok || !strings.Contains(why, "process 9") {
		t.Errorf("a dead host with init as the parent from the start: %q, %v", why, ok)
	}
}

func TestAlive(t *testing.T) {
	if !alive(os.Getpid()) {
		t.Error("this process is not alive")
	}
	if alive(1 << 30) {
		t.Error("a process that cannot exist is alive")
	}
}

// An inherited host pid is replaced by this process's, and the rest of the
// environment is kept.
func TestPluginEnvReplacesInheritedHost(t *testing.T) {
	env := PluginEnv([]string{"A=1", HostPIDVar + "=12345", "B=2"})
	want := []string{"A=1", "B=2", HostEnv()}
	if len(env) != len(want) {
		t.Fatalf("got %v, want %v", env, want)
	}
	for i := range want {
		if env[i] != want[i] {
			t.Fatalf("got %v, want %v", env, want)
		}
	}
}
