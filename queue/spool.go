package queue

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// On-disk names inside the spool directory (see doc.go for the format).
const (
	tmpDir        = "tmp"        // files being written; emptied by Open
	quarantineDir = "quarantine" // corrupt messages, never delivered
	lockName      = "lock"       // flocked by the one gateway process
	wakeName      = "wake"       // created by Flush/Delete; the runner rescans
	msgExt        = ".msg"
	stateExt      = ".state"

	magic       = "GWQ1"
	headerLen   = len(magic) + 1 + 8 + 1                     // "GWQ1 0000002a\n"
	trailerLen  = len(magic) + len(" END ") + 16 + 1 + 8 + 1 // "GWQ1 END <size> <crc>\n"
	maxEnvBytes = 8 << 20                                    // envelope JSON limit
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks a spool file that cannot be trusted.
var errCorrupt = errors.New("corrupt spool file")

// newID returns a new message id: 16 hex digits of the clock (so ids
// sort by creation) and 8 random ones.
func newID(now time.Time) string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%016x%s", uint64(now.UnixNano()), hex.EncodeToString(r[:]))
}

// validID reports whether id can name a spool file: exactly what newID
// makes, so an id from the command line never walks out of the spool.
func validID(id string) bool {
	if len(id) != 24 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// encodeHeader returns the header of a message file: the magic, the
// length of the envelope JSON, the JSON and a newline.
func encodeHeader(env *Envelope) ([]byte, error) {
	js, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	if len(js) > maxEnvBytes {
		return nil, fmt.Errorf("queue: envelope too large (%d bytes)", len(js))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %08x\n", magic, len(js))
	b.Write(js)
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func encodeTrailer(size int64, crc uint32) []byte {
	return fmt.Appendf(nil, "%s END %016x %08x\n", magic, size, crc)
}

// msgFile describes a parsed message file.
type msgFile struct {
	env     Envelope
	bodyOff int64
	size    int64
	crc     uint32
}

// readEnvelope parses a message file's header and trailer (not its body):
// r holds the whole file of length total. Any inconsistency is errCorrupt.
func readEnvelope(r io.ReaderAt, total int64) (*msgFile, error) {
	if total < int64(headerLen+trailerLen) {
		return nil, fmt.Errorf("%w: %d bytes", errCorrupt, total)
	}
	var h [headerLen]byte
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return nil, fmt.Errorf("%w: header: %v", errCorrupt, err)
	}
	if string(h[:len(magic)+1]) != magic+" " || h[headerLen-1] != '\n' {
		return nil, fmt.Errorf("%w: bad magic", errCorrupt)
	}
	n, err := strconv.ParseUint(string(h[len(magic)+1:headerLen-1]), 16, 32)
	if err != nil || n == 0 || n > maxEnvBytes {
		return nil, fmt.Errorf("%w: bad envelope length", errCorrupt)
	}
	bodyOff := int64(headerLen) + int64(n) + 1
	if bodyOff+int64(trailerLen) > total {
		return nil, fmt.Errorf("%w: envelope longer than the file", errCorrupt)
	}
	js := make([]byte, n+1)
	if _, err := r.ReadAt(js, int64(headerLen)); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", errCorrupt, err)
	}
	if js[n] != '\n' {
		return nil, fmt.Errorf("%w: envelope not terminated", errCorrupt)
	}
	m := &msgFile{bodyOff: bodyOff}
	dec := json.NewDecoder(bytes.NewReader(js[:n]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m.env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", errCorrupt, err)
	}
	if !validID(m.env.ID) || len(m.env.To) == 0 {
		return nil, fmt.Errorf("%w: envelope without id or recipients", errCorrupt)
	}
	var t [trailerLen]byte
	if _, err := r.ReadAt(t[:], total-int64(trailerLen)); err != nil {
		return nil, fmt.Errorf("%w: trailer: %v", errCorrupt, err)
	}
	f := strings.Fields(string(t[:]))
	if len(f) != 4 || f[0] != magic || f[1] != "END" || t[trailerLen-1] != '\n' ||
		len(f[2]) != 16 || len(f[3]) != 8 {
		return nil, fmt.Errorf("%w: bad trailer", errCorrupt)
	}
	size, err1 := strconv.ParseUint(f[2], 16, 63)
	crc, err2 := strconv.ParseUint(f[3], 16, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: bad trailer", errCorrupt)
	}
	m.size, m.crc = int64(size), uint32(crc)
	if bodyOff+m.size+int64(trailerLen) != total {
		return nil, fmt.Errorf("%w: size %d does not match the file", errCorrupt, m.size)
	}
	m.env.Size = m.size
	return m, nil
}

// checkBody verifies the body's CRC-32C against the trailer.
func (m *msgFile) checkBody(r io.ReaderAt) error {
	h := crc32.New(castagnoli)
	if _, err := io.Copy(h, io.NewSectionReader(r, m.bodyOff, m.size)); err != nil {
		return err
	}
	if h.Sum32() != m.crc {
		return fmt.Errorf("%w: body checksum mismatch", errCorrupt)
	}
	return nil
}

// state is the mutable bookkeeping of a message, in <id>.state. Absent:
// nothing happened yet (no attempt, every recipient pending).
type state struct {
	Attempts    int         `json:"attempts"`
	NextAttempt time.Time   `json:"next_attempt"`
	LastError   string      `json:"last_error,omitempty"`
	DelayWarned bool        `json:"delay_warned,omitempty"`
	Rcpts       []rcptState `json:"rcpts"`
}

type rcptState struct {
	Status string `json:"status,omitempty"`
	Reply  string `json:"reply,omitempty"`
}

// parseState decodes a state file for an envelope of n recipients.
func parseState(b []byte, n int) (*state, error) {
	var s state
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: state: %v", errCorrupt, err)
	}
	if len(s.Rcpts) != n || s.Attempts < 0 {
		return nil, fmt.Errorf("%w: state does not match the envelope", errCorrupt)
	}
	for _, r := range s.Rcpts {
		switch r.Status {
		case StatusPending, StatusDelivered, StatusFailed:
		default:
			return nil, fmt.Errorf("%w: state: unknown status %q", errCorrupt, r.Status)
		}
	}
	return &s, nil
}

// apply copies s into env's bookkeeping fields.
func (s *state) apply(env *Envelope) {
	env.Attempts, env.NextAttempt, env.LastError, env.DelayWarned = s.Attempts, s.NextAttempt, s.LastError, s.DelayWarned
	for i := range env.To {
		env.To[i].Status, env.To[i].Reply = s.Rcpts[i].Status, s.Rcpts[i].Reply
	}
}

// stateOf takes env's bookkeeping.
func stateOf(env *Envelope) *state {
	s := &state{Attempts: env.Attempts, NextAttempt: env.NextAttempt, LastError: env.LastError, DelayWarned: env.DelayWarned}
	s.Rcpts = make([]rcptState, len(env.To))
	for i, r := range env.To {
		s.Rcpts[i] = rcptState{Status: r.Status, Reply: r.Reply}
	}
	return s
}

// loadState reads dir/<id>.state into env; a missing file is no error.
func loadState(dir string, env *Envelope) error {
	b, err := os.ReadFile(filepath.Join(dir, env.ID+stateExt))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	s, err := parseState(b, len(env.To))
	if err != nil {
		return err
	}
	s.apply(env)
	return nil
}

// writeState replaces <id>.state in the spool ds.dir atomically: a new
// file in tmp/, fsynced, renamed over the old one, the directory fsynced
// (through ds: the runner's group commit). A crash leaves the old state
// or the new one, never a mix.
func writeState(ds *dirSyncer, env *Envelope) error {
	dir := ds.dir
	js, err := json.Marshal(stateOf(env))
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Join(dir, tmpDir), env.ID+".*"+stateExt)
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err = f.Write(js); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, env.ID+stateExt))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return ds.sync()
}

// syncDir fsyncs a directory so that renames and removals in it are
// durable.
func syncDir(dir string) error {
	d, err := openFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// openMessage opens dir/<id>.msg, parses its envelope and merges its
// state.
func openMessage(dir, id string) (*os.File, *msgFile, error) {
	f, err := os.Open(filepath.Join(dir, id+msgExt))
	if err != nil {
		return nil, nil, err
	}
	m, err := parseOpen(dir, id, f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, m, nil
}

func parseOpen(dir, id string, f *os.File) (*msgFile, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	m, err := readEnvelope(f, st.Size())
	if err != nil {
		return nil, err
	}
	if m.env.ID != id {
		return nil, fmt.Errorf("%w: file %s holds id %s", errCorrupt, id, m.env.ID)
	}
	if err := loadState(dir, &m.env); err != nil {
		return nil, err
	}
	return m, nil
}

// removeMessage removes a message's files from the spool ds.dir: the
// message first (the commit point), then its state; then the directory is
// fsynced through ds.
func removeMessage(ds *dirSyncer, id string) error {
	dir := ds.dir
	err := os.Remove(filepath.Join(dir, id+msgExt))
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	// Most messages never had a state file: unlink alone (os.Remove
	// would try rmdir and stat after it as well).
	if serr := syscall.Unlink(filepath.Join(dir, id+stateExt)); serr != nil && !errors.Is(serr, os.ErrNotExist) && err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	return ds.sync()
}

// messageIDs lists the ids of the committed messages in dir, sorted
// (oldest first).
func messageIDs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		name := e.Name()
		if id, ok := strings.CutSuffix(name, msgExt); ok && validID(id) && e.Type().IsRegular() {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// touchWake asks the runner of the gateway on dir to rescan.
func touchWake(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, wakeName), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}
