package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadDaemon(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		want     Daemon
		problems []string // substrings, one per problem
	}{
		{name: "no files", want: DefaultDaemon()},
		{
			name: "conf and local",
			files: map[string]string{
				"pinjail.conf":         "[Definition]\ndbfile = /srv/pj.db\nmetrics = 127.0.0.1:9191\n",
				"pinjail.local":        "[Definition]\nmetrics = [::1]:9200\nloglevel = WARNING\n",
				"pinjail.d/purge.conf": "[Definition]\ndbpurgeage = 7d\n",
			},
			want: Daemon{DBFile: "/srv/pj.db", DBPurgeAge: 7 * 24 * time.Hour, Socket: "/run/pinjail/pinjail.sock", Metrics: "[::1]:9200", LogLevel: "warn"},
		},
		{
			name: "bad values keep defaults",
			files: map[string]string{
				"pinjail.conf": "[Definition]\ndbfile = relative.db\n\nmetrics = 9191\nloglevel = loud\ndbpurgeage = soon\nsocket = run.sock\n",
			},
			want: DefaultDaemon(),
			problems: []string{
				"pinjail.conf:2: dbfile: \"relative.db\" is not an absolute path",
				"pinjail.conf:6: dbpurgeage",
				"pinjail.conf:7: socket",
				"pinjail.conf:4: metrics: \"9191\" is not a host:port address",
				"pinjail.conf:5: loglevel",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, text := range tt.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got := LoadDaemon(dir, Options{})
			problems := got.Problems
			got.Problems = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("settings %+v, want %+v", got, tt.want)
			}
			if len(problems) != len(tt.problems) {
				t.Fatalf("problems %v, want %d", problems, len(tt.problems))
			}
			for _, want := range tt.problems {
				found := false
				for _, p := range problems {
					found = found || strings.Contains(strings.ReplaceAll(p.String(), dir+"/", ""), want)
				}
				if !found {
					t.Errorf("no problem like %q in %v", want, problems)
				}
			}
		})
	}
}
