//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package queue

import (
	"errors"
	"os"
	"syscall"
)

// errLocked reports that another holder has the lock.
var errLocked = errors.New("locked")

// tryLock takes an exclusive flock on f without waiting (errLocked if
// another process or descriptor holds it).
func tryLock(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLocked
	}
	return err
}

func unlock(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// unlinked reports whether f's file has been removed from the directory
// (by Delete, between our open and our lock).
func unlinked(f *os.File) bool {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return true
	}
	return st.Nlink == 0
}

// freeBytes returns the space available to unprivileged users on dir's
// file system.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// openFile is os.OpenFile for the spool's regular files and directory
// without the poller: os.OpenFile tries to register every file with
// epoll (four fcntl and a failing epoll_ctl per open on Linux), which
// regular files never need; os.NewFile on a blocking descriptor asks one
// fcntl. The spool opens a few files per message.
func openFile(path string, flag int, perm uint32) (*os.File, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, flag|syscall.O_CLOEXEC, perm)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}
