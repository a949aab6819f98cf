package e2etest

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// listenerOwnedBy reports whether pid holds a listening TCP socket that
// accepts connections to addr ("ip:port"): one bound to that IP or to the
// unspecified address on that port. It reads /proc (proc(5)).
//
// Readiness checks use it because a port chosen by FreeAddr can be taken by
// another test binary before the process under test binds it; then a
// successful connection would reach the wrong server.
func listenerOwnedBy(addr string, pid int) (bool, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	ip := net.ParseIP(host)
	port, err := strconv.Atoi(portStr)
	if ip == nil || err != nil {
		return false, fmt.Errorf("bad address %q", addr)
	}
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		found, err := listeningInodes(table, ip, port)
		if err != nil && !os.IsNotExist(err) {
			return false, err
		}
		for _, ino := range found {
			inodes[ino] = true
		}
	}
	if len(inodes) == 0 {
		return false, nil
	}
	fdDir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return false, err
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
		if err != nil {
			continue
		}
		if ino, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
			return true, nil
		}
	}
	return false, nil
}

// listeningInodes returns the inodes of sockets in LISTEN state in a
// /proc/net/tcp{,6} table that accept connections to ip:port.
func listeningInodes(table string, ip net.IP, port int) ([]string, error) {
	f, err := os.Open(table)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var inodes []string
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" { // 0A: TCP_LISTEN
			continue
		}
		lip, lport, err := parseProcAddr(fields[1])
		if err != nil || lport != port {
			continue
		}
		if lip.Equal(ip) || lip.IsUnspecified() {
			inodes = append(inodes, fields[9])
		}
	}
	return inodes, sc.Err()
}

// parseProcAddr decodes "HEXIP:HEXPORT" from /proc/net/tcp{,6}: the address
// is printed as 32-bit words in host byte order, the port in plain hex.
func parseProcAddr(s string) (net.IP, int, error) {
	hexIP, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return nil, 0, fmt.Errorf("bad address %q", s)
	}
	raw, err := hex.DecodeString(hexIP)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return nil, 0, fmt.Errorf("bad address %q", s)
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(ip[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return nil, 0, fmt.Errorf("bad port in %q", s)
	}
	return ip, int(port), nil
}
