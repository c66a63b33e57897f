package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a redis-server process started for one test.
type Redis struct {
	Addr   string
	Client *redis.Client
}

// StartRedis starts redis-server on a free loopback port with no persistence
// and stops it when the test ends. Without redis-server on PATH the test is
// skipped, or fails when HIVE_REQUIRE_REDIS=1.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("HIVE_REQUIRE_REDIS") == "1" {
			t.Fatal("testenv: redis-server is not installed and HIVE_REQUIRE_REDIS=1 (apt-get install redis-server)")
		}
		t.Skip("testenv: redis-server is not installed; skipping redis test (apt-get install redis-server, or set HIVE_REQUIRE_REDIS=1 to fail instead)")
	}
	var lastErr error
	for range 5 {
		port := FreePort(t)
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", t.TempDir(), "--loglevel", "warning")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("testenv: start redis-server: %v", err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cli := redis.NewClient(&redis.Options{Addr: addr})
		if lastErr = waitRedis(cli); lastErr == nil {
			t.Cleanup(func() {
				cli.Close()
				cmd.Process.Kill()
				cmd.Wait()
			})
			return &Redis{Addr: addr, Client: cli}
		}
		cli.Close()
		cmd.Process.Kill()
		cmd.Wait()
	}
	t.Fatalf("testenv: redis-server did not answer: %v", lastErr)
	return nil
}

func waitRedis(cli *redis.Client) error {
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = cli.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
}
