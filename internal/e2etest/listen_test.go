package e2etest

import (
	"net"
	"os"
	"testing"
)

func TestParseProcAddr(t *testing.T) {
	tests := []struct {
		name, in string
		wantIP   string
		wantPort int
		wantErr  bool
	}{
		{name: "ipv4 loopback", in: "0100007F:1F90", wantIP: "127.0.0.1", wantPort: 8080},
		{name: "ipv4 any", in: "00000000:0019", wantIP: "0.0.0.0", wantPort: 25},
		{name: "ipv6 loopback", in: "00000000000000000000000001000000:01BB", wantIP: "::1", wantPort: 443},
		{name: "no colon", in: "0100007F", wantErr: true},
		{name: "odd length", in: "0100007:0019", wantErr: true},
		{name: "bad port", in: "0100007F:XYZ", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ip, port, err := parseProcAddr(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseProcAddr(%q) = %v, %d; want error", tc.in, ip, port)
				}
				return
			}
			if err != nil || !ip.Equal(net.ParseIP(tc.wantIP)) || port != tc.wantPort {
				t.Errorf("parseProcAddr(%q) = %v, %d, %v; want %s, %d", tc.in, ip, port, err, tc.wantIP, tc.wantPort)
			}
		})
	}
}

// TestListenerOwnedBy opens listeners in this process and checks which
// addresses /proc attributes to it.
func TestListenerOwnedBy(t *testing.T) {
	specific, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer specific.Close()
	any4, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer any4.Close()
	free := FreeAddr(t, "127.0.0.1")
	_, anyPort, _ := net.SplitHostPort(any4.Addr().String())
	tests := []struct {
		name string
		addr string
		pid  int
		want bool
	}{
		{"own specific listener", specific.Addr().String(), os.Getpid(), true},
		{"own wildcard listener covers loopback", "127.0.0.2:" + anyPort, os.Getpid(), true},
		{"other address on the same port", "127.0.0.3:" + portOf(t, specific.Addr().String()), os.Getpid(), false},
		{"nobody listens", free, os.Getpid(), false},
		{"another process's view", specific.Addr().String(), os.Getppid(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := listenerOwnedBy(tc.addr, tc.pid)
			if got != tc.want {
				t.Errorf("listenerOwnedBy(%s, %d) = %v (%v), want %v", tc.addr, tc.pid, got, err, tc.want)
			}
		})
	}
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}
