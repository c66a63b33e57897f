package tap

import (
	"context"
	"io"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// sink is the output the partitions' readers share: whole lines, and the
// limit counted over all of them. It cancels the readers once the limit is
// reached.
type sink struct {
	mu     sync.Mutex
	w      io.Writer
	limit  int // 0 = none
	n      int
	cancel context.CancelFunc
}

// left is how many more lines may be printed (a large number with no limit).
func (s *sink) left() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limit == 0 {
		return 1 << 30
	}
	return s.limit - s.n
}

// write prints event m of partition part. It reports false, printing
// nothing, when the limit was already reached.
func (s *sink) write(m jetstream.Msg, part int) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limit > 0 && s.n >= s.limit {
		return false, nil
	}
	if err := writeLine(s.w, m, part); err != nil {
		return false, err
	}
	s.n++
	if s.limit > 0 && s.n >= s.limit {
		s.cancel()
	}
	return true, nil
}
