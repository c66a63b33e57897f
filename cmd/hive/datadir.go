package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// lockFileName is the file in the data dir that `hive dev` holds an
// exclusive lock on while it runs; it contains the holder's pid.
const lockFileName = "hive.lock"

// dataDirBusyError: another process holds the data dir's lock.
type dataDirBusyError struct {
	dir string
	pid int // 0 when the lock file names none
}

func (e *dataDirBusyError) Error() string {
	who := "another hive dev"
	if e.pid > 0 {
		who = fmt.Sprintf("another hive dev (pid %d)", e.pid)
	}
	return fmt.Sprintf("%s is using %s; stop it or pass --data-dir", who, e.dir)
}

// dataDirLock is a held lock on a data dir; release gives it up.
type dataDirLock struct {
	f *os.File
}

// lockDataDir takes the exclusive lock on dir (which must exist) before
// anything in it is opened: two processes on one JetStream store would
// rebuild and rewrite each other's index files. It fails at once, naming
// the holder, when another process has it. The lock is the kernel's
// (flock on unix), so it goes away with its process, even a killed one; the
// file itself stays and only says who held it last.
func lockDataDir(dir string) (*dataDirLock, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := openLocked(path)
	if errors.Is(err, errLocked) {
		return nil, &dataDirBusyError{dir: dir, pid: lockHolder(path)}
	}
	if err != nil {
		return nil, fmt.Errorf("data dir lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir lock %s: %w", path, err)
	}
	return &dataDirLock{f: f}, nil
}

// release gives up the lock (closing the file releases it).
func (l *dataDirLock) release() {
	if l != nil && l.f != nil {
		l.f.Close()
	}
}

// errLocked: the lock is held by another open file.
var errLocked = errors.New("locked")

// lockHolder reads the pid in the lock file at path; 0 when it has none
// (the holder may be between taking the lock and writing its pid).
func lockHolder(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// checkPorts listens on the address of every --*-listen flag of fs that is
// set (port 0 and flags in skip aside), all at once, then closes them again:
// a port held by another process, or one address given to two flags, fails
// here before anything is opened, with an error naming the flag. A malformed
// address is a usage error; an address in use is a runtime failure.
func checkPorts(fs *flag.FlagSet, skip ...string) error {
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasSuffix(f.Name, "-listen") && f.Value.String() != "" && !slices.Contains(skip, f.Name) {
			names = append(names, f.Name)
		}
	})
	sort.Strings(names)
	var open []net.Listener
	defer func() {
		for _, ln := range open {
			ln.Close()
		}
	}()
	for _, name := range names { // every address well-formed before any listens
		addr := fs.Lookup(name).Value.String()
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return usagef("--%s %q: want host:port, e.g. 127.0.0.1:9000 or :9000", name, addr)
		}
	}
	for _, name := range names {
		addr := fs.Lookup(name).Value.String()
		if _, port, _ := net.SplitHostPort(addr); port == "0" {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("port %s (--%s) is in use by another process (another hive dev?); stop it or pass --%s with a free address", addr, name, name)
			}
			return fmt.Errorf("cannot listen on %s (--%s): %w", addr, name, err)
		}
		open = append(open, ln)
	}
	return nil
}
