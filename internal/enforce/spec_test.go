package enforce

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

func TestParsePorts(t *testing.T) {
	tests := []struct {
		in      string
		network string
		want    string // FormatPorts of the result, or "error"
	}{
		{"", "tcp", ""},
		{"443", "tcp", "443"},
		{" 443 , 80 ", "tcp", "80,443"},
		{"http,https", "tcp", "80,443"},
		{"HTTPS", "tcp", "443"},
		{"ssh", "", "22"},
		{"1000:2000", "tcp", "1000:2000"},
		{"0:65535", "tcp", ""},
		{"0:100,101:65535", "tcp", ""},
		{"8000:8010,8005,8011,443", "tcp", "443,8000:8011"},
		{"65535", "tcp", "65535"},
		{"0", "tcp", "0"},
		{"http:443", "tcp", "80:443"},
		{",,443,", "tcp", "443"},
		{"65536", "tcp", "error"},
		{"-1", "tcp", "error"},
		{"2000:1000", "tcp", "error"},
		{"1000:", "tcp", "error"},
		{":1000", "tcp", "error"},
		{"no-such-service", "tcp", "error"},
		{"443x", "tcp", "error"},
		{"1:2:3", "tcp", "error"},
	}
	for _, tt := range tests {
		got, err := ParsePorts(context.Background(), tt.in, tt.network)
		switch {
		case tt.want == "error" && err == nil:
			t.Errorf("ParsePorts(%q) = %v, want an error", tt.in, got)
		case tt.want != "error" && err != nil:
			t.Errorf("ParsePorts(%q): %v", tt.in, err)
		case err == nil && FormatPorts(got) != tt.want:
			t.Errorf("ParsePorts(%q) = %q, want %q", tt.in, FormatPorts(got), tt.want)
		case err == nil && tt.want == "" && got != nil:
			t.Errorf("ParsePorts(%q) = %v, want nil (all ports)", tt.in, got)
		case err != nil && !strings.Contains(err.Error(), strings.TrimSpace(strings.Split(tt.in, ",")[0])):
			t.Errorf("ParsePorts(%q) error %q does not name the value", tt.in, err)
		}
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want Match
		err  string
	}{
		{"defaults", Spec{Jail: "j"}, Match{Protocols: []Protocol{TCP}}, ""},
		{"fail2ban style", Spec{Jail: "j", Ports: "http,https", Protocols: []string{"tcp"}, Block: "REJECT"},
			Match{Protocols: []Protocol{TCP}, Ports: []PortRange{{80, 80}, {443, 443}}, Reject: true}, ""},
		{"comma list and dedup", Spec{Jail: "j", Ports: "5060:5061", Protocols: []string{"udp, tcp", "tcp", "sctp"}},
			Match{Protocols: []Protocol{TCP, UDP, SCTP}, Ports: []PortRange{{5060, 5061}}}, ""},
		{"all protocols", Spec{Jail: "j", Protocols: []string{"tcp", "all"}, Block: "drop"}, Match{}, ""},
		{"all protocols all ports", Spec{Jail: "j", Ports: "0:65535", Protocols: []string{"all"}}, Match{}, ""},
		{"no jail", Spec{}, Match{}, "without a jail"},
		{"bad block", Spec{Jail: "j", Block: "tarpit"}, Match{}, `block "tarpit"`},
		{"bad protocol", Spec{Jail: "j", Protocols: []string{"icmp"}}, Match{}, `protocol "icmp"`},
		{"ports without protocol", Spec{Jail: "j", Ports: "443", Protocols: []string{"all"}}, Match{}, "needs a protocol"},
		{"bad port", Spec{Jail: "j", Ports: "http,nope"}, Match{}, `port "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.spec.Resolve(context.Background())
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Resolve = %v, %v; want error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Resolve = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMatchString(t *testing.T) {
	m := Match{Protocols: []Protocol{TCP, UDP, 99}, Ports: []PortRange{{80, 80}, {8000, 8010}}, Reject: true}
	if got, want := m.String(), "tcp,udp,99 dport 80,8000:8010 reject"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got, want := (Match{}).String(), "all protocols all ports drop"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

// FuzzParsePorts checks that any accepted input yields sorted, disjoint,
// non-adjacent ranges that format back to an equivalent input.
func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"", "443", "http,https", "1000:2000", "0:65535", "1:2,3:4", "65535,0", " ssh , 80:90 ", "2:1", "9999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ranges, err := ParsePorts(context.Background(), s, "tcp")
		if err != nil {
			return
		}
		for i, r := range ranges {
			if r.First > r.Last {
				t.Fatalf("ParsePorts(%q): range %v inverted", s, r)
			}
			if i > 0 && int(ranges[i-1].Last)+1 >= int(r.First) {
				t.Fatalf("ParsePorts(%q): ranges %v and %v not merged", s, ranges[i-1], r)
			}
		}
		again, err := ParsePorts(context.Background(), FormatPorts(ranges), "tcp")
		if err != nil || !reflect.DeepEqual(again, ranges) {
			t.Fatalf("ParsePorts(%q) = %v, which reads back as %v, %v", s, ranges, again, err)
		}
	})
}

// FuzzResolve checks that an accepted spec resolves to sorted, unique
// protocols and to ports only together with protocols.
func FuzzResolve(f *testing.F) {
	f.Add("443", "tcp,udp", "reject")
	f.Add("", "all", "")
	f.Add("http:https", "sctp, dccp ,udplite", "DROP")
	f.Fuzz(func(t *testing.T, ports, protocols, block string) {
		m, err := Spec{Jail: "j", Ports: ports, Protocols: []string{protocols}, Block: block}.Resolve(context.Background())
		if err != nil {
			return
		}
		for i, p := range m.Protocols {
			if i > 0 && m.Protocols[i-1] >= p {
				t.Fatalf("protocols %v not sorted and unique", m.Protocols)
			}
		}
		if m.Ports != nil && m.Protocols == nil {
			t.Fatalf("ports %v without protocols", m.Ports)
		}
		if m.String() == "" {
			t.Fatal("empty description")
		}
	})
}
