package inventory

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteGraph(t *testing.T) {
	inv := mustLoad(t, "testdata/multitier/inventory.yml")
	tests := []struct {
		name    string
		pattern string
		root    string
		want    string
	}{
		{"all-hosts", "all", "all", `@all:
  |--@builders:
  |  |--ci-a.corp.example
  |  |--ci-b.corp.example
  |  |--ci-c.corp.example
  |--@dbservers:
  |  |--@prod_db:
  |  |  |--db01.prod.corp.example
  |  |  |--db02.prod.corp.example
  |--@production:
  |  |--@prod_db:
  |  |  |--db01.prod.corp.example
  |  |  |--db02.prod.corp.example
  |  |--@prod_web:
  |  |  |--web01.prod.corp.example
  |  |  |--web02.prod.corp.example
  |  |  |--web03.prod.corp.example
  |--@staging:
  |  |--@stage_web:
  |  |  |--web01.stage.corp.example
  |--@ungrouped:
  |  |--bastion.corp.example
  |--@webservers:
  |  |--@prod_web:
  |  |  |--web01.prod.corp.example
  |  |  |--web02.prod.corp.example
  |  |  |--web03.prod.corp.example
  |  |--@stage_web:
  |  |  |--web01.stage.corp.example
`},
		{"exclusion-prunes-groups", "webservers:!stage_web", "all", `@all:
  |--@production:
  |  |--@prod_web:
  |  |  |--web01.prod.corp.example
  |  |  |--web02.prod.corp.example
  |  |  |--web03.prod.corp.example
  |--@webservers:
  |  |--@prod_web:
  |  |  |--web01.prod.corp.example
  |  |  |--web02.prod.corp.example
  |  |  |--web03.prod.corp.example
`},
		{"sub-tree", "all", "dbservers", `@dbservers:
  |--@prod_db:
  |  |--db01.prod.corp.example
  |  |--db02.prod.corp.example
`},
		{"intersection", "production:&dbservers", "production", `@production:
  |--@prod_db:
  |  |--db01.prod.corp.example
  |  |--db02.prod.corp.example
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts, err := inv.Select(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if err := inv.WriteGraph(&b, tt.root, hosts); err != nil {
				t.Fatalf("WriteGraph: %v", err)
			}
			if got := b.String(); got != tt.want {
				t.Errorf("graph =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestWriteGraphUnknownGroup(t *testing.T) {
	inv := mustLoad(t, "testdata/multitier/inventory.yml")
	err := inv.WriteGraph(&strings.Builder{}, "dbserver", inv.Hosts())
	if err == nil || !strings.Contains(err.Error(), `"dbserver": not found`) || !strings.Contains(err.Error(), "dbservers") {
		t.Errorf("error = %v; want one naming dbserver and listing the groups", err)
	}
}

// listDoc is the JSON that ListJSON writes.
type listDoc map[string]json.RawMessage

type listGroup struct {
	Hosts    []string `json:"hosts"`
	Children []string `json:"children"`
}

func decodeList(t *testing.T, data []byte) (listDoc, map[string]map[string]any) {
	t.Helper()
	var doc listDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("decode --list JSON: %v\n%s", err, data)
	}
	var meta struct {
		Hostvars map[string]map[string]any `json:"hostvars"`
	}
	if err := json.Unmarshal(doc["_meta"], &meta); err != nil {
		t.Fatalf("decode _meta: %v", err)
	}
	return doc, meta.Hostvars
}

func (d listDoc) group(t *testing.T, name string) listGroup {
	t.Helper()
	raw, ok := d[name]
	if !ok {
		t.Fatalf("--list has no group %s", name)
	}
	var g listGroup
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestListJSON(t *testing.T) {
	inv := mustLoad(t, "testdata/multitier/inventory.yml")
	hosts, err := inv.Select("dbservers:builders")
	if err != nil {
		t.Fatal(err)
	}
	data, err := inv.ListJSON(hosts)
	if err != nil {
		t.Fatal(err)
	}
	doc, hostvars := decodeList(t, data)

	if got := strings.Join(doc.group(t, "all").Children, ","); got != "builders,dbservers,production" {
		t.Errorf("all children = %s; want builders,dbservers,production", got)
	}
	if got := strings.Join(doc.group(t, "prod_db").Hosts, ","); got != "db01.prod.corp.example,db02.prod.corp.example" {
		t.Errorf("prod_db hosts = %s", got)
	}
	if got := strings.Join(doc.group(t, "builders").Hosts, ","); got != "ci-a.corp.example,ci-b.corp.example,ci-c.corp.example" {
		t.Errorf("builders hosts = %s", got)
	}
	for _, absent := range []string{"webservers", "staging", "prod_web", "ungrouped"} {
		if _, ok := doc[absent]; ok {
			t.Errorf("--list has group %s, which holds no selected host", absent)
		}
	}
	if len(hostvars) != 5 {
		t.Errorf("hostvars has %d hosts; want 5", len(hostvars))
	}
	db2 := hostvars["db02.prod.corp.example"]
	if db2["ansible_port"] != float64(2222) || db2["ansible_become_user"] != "postgres" || db2["env"] != "production" {
		t.Errorf("db02 vars = %v; want merged group and host variables", db2)
	}
}

func TestListJSONRedactsSecrets(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"hosts.yml": `all:
  hosts:
    node1:
      ansible_password: hunter2-ssh
      ansible_become_pass: hunter2-sudo
      ansible_ssh_private_key_file: ~/.ssh/id_ed25519
      registry_api_key: abc123-api
      app:
        db_password: hunter2-db
        db_user: app
      ansible_host_key_checking: true
`,
	})
	inv := mustLoad(t, filepath.Join(dir, "hosts.yml"))
	data, err := inv.ListJSON(inv.Hosts())
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"hunter2-ssh", "hunter2-sudo", "abc123-api", "hunter2-db"} {
		if strings.Contains(string(data), secret) {
			t.Errorf("--list shows the secret %q:\n%s", secret, data)
		}
	}
	_, hostvars := decodeList(t, data)
	vars := hostvars["node1"]
	for _, shown := range []string{"ansible_ssh_private_key_file", "ansible_host_key_checking"} {
		if vars[shown] == Redacted {
			t.Errorf("%s is redacted; want it shown", shown)
		}
	}
	if app, _ := vars["app"].(map[string]any); app["db_user"] != "app" || app["db_password"] != Redacted {
		t.Errorf("app = %v; want db_user shown and db_password redacted", vars["app"])
	}
}

func TestSecretVar(t *testing.T) {
	tests := []struct {
		name   string
		secret bool
	}{
		{"ansible_password", true},
		{"ansible_ssh_pass", true},
		{"ansible_become_pass", true},
		{"ansible_become_password", true},
		{"ansible_sudo_pass", true},
		{"vault_token", true},
		{"AWS_SECRET_ACCESS_KEY", true},
		{"api_key", true},
		{"apikey", true},
		{"ssh_key_passphrase", true},
		{"db-credentials", true},
		{"ansible_ssh_private_key_file", false},
		{"vault_password_file", false},
		{"ansible_host_key_checking", false},
		{"ansible_user", false},
		{"docker_certs_dir", false},
		{"passive_mode", false},
		{"bypass_proxy", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SecretVar(tt.name); got != tt.secret {
				t.Errorf("SecretVar(%q) = %v; want %v", tt.name, got, tt.secret)
			}
		})
	}
}
