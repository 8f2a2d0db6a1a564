package daemonjson

import (
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	var long []string
	for i := 1; i <= 12; i++ {
		long = append(long, "line "+string(rune('a'+i-1)))
	}
	longText := strings.Join(long, "\n") + "\n"
	longChanged := strings.Replace(longText, "line f\n", "line F\n", 1)

	tests := []struct {
		name          string
		path          string
		before, after string
		want          string
	}{
		{
			name:   "add-key",
			path:   "daemon.json",
			before: "{\n  \"debug\": true\n}\n",
			after:  "{\n  \"debug\": true,\n  \"insecure-registries\": [\"a.lan\"]\n}\n",
			want: "--- a/daemon.json\n+++ b/daemon.json\n@@ -1,3 +1,4 @@\n {\n" +
				"-  \"debug\": true\n+  \"debug\": true,\n+  \"insecure-registries\": [\"a.lan\"]\n }\n",
		},
		{
			name:   "context-limited",
			path:   "/etc/docker/daemon.json",
			before: longText,
			after:  longChanged,
			want: "--- a/etc/docker/daemon.json\n+++ b/etc/docker/daemon.json\n@@ -3,7 +3,7 @@\n" +
				" line c\n line d\n line e\n-line f\n+line F\n line g\n line h\n line i\n",
		},
		{
			name:   "created",
			path:   "daemon.json",
			before: "",
			after:  "{\n}\n",
			want:   "--- a/daemon.json\n+++ b/daemon.json\n@@ -0,0 +1,2 @@\n+{\n+}\n",
		},
		{
			name:   "no-final-newline",
			path:   "daemon.json",
			before: "{\"debug\":true}",
			after:  "{\"debug\":false}",
			want: "--- a/daemon.json\n+++ b/daemon.json\n@@ -1 +1 @@\n-{\"debug\":true}\n\\ No newline at end of file\n" +
				"+{\"debug\":false}\n\\ No newline at end of file\n",
		},
		{
			name:   "equal",
			path:   "daemon.json",
			before: "{}\n",
			after:  "{}\n",
			want:   "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Diff(tt.path, []byte(tt.before), []byte(tt.after)); got != tt.want {
				t.Errorf("Diff:\ngot\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
