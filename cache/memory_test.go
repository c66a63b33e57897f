package cache_test

import (
	"testing"

	"github.com/qeetap/hive/cache"
)

func TestMemory(t *testing.T) {
	c := cache.NewMemory()
	defer c.Close()
	testCache(t, c)
}
