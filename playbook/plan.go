package playbook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/regtrust/regtrust/internal/atomicfile"
	"github.com/regtrust/regtrust/inventory"
	"github.com/regtrust/regtrust/tasks"
)

// planFormat is the version of the plan file format. A plan of another
// version is rejected, not guessed at.
const planFormat = 1

// maxPlanSize bounds the plan file that ReadPlan reads. A plan of ten
// thousand hosts with diffs is a few megabytes.
const maxPlanSize = 256 << 20

// Plan is the outcome of a check run, saved so that a later run applies
// exactly the changes that were reviewed. It holds no secret: of a
// client key only its file name and SHA-256, never its content.
type Plan struct {
	Format  int       `json:"format"`
	Created time.Time `json:"created"`
	// Playbook is the absolute path of the playbook and the SHA-256 of its
	// content; apply rejects a playbook that changed.
	Playbook    string `json:"playbook"`
	PlaybookSHA string `json:"playbook_sha256"`
	// Inventories are the absolute paths given with -i.
	Inventories []string       `json:"inventories"`
	Limit       string         `json:"limit,omitempty"`
	Shard       string         `json:"shard,omitempty"`
	Registries  []PlanRegistry `json:"registries"`
	Hosts       []PlanHost     `json:"hosts"`
}

// PlanRegistry is a registry's CA and client pair as the plan saw them.
type PlanRegistry struct {
	Play    int    `json:"play"` // index of the play in the playbook
	Name    string `json:"name"`
	Address string `json:"address"`
	// CASHA256 is the CA's fingerprint; apply rejects another CA, so a
	// CA fetched from the registry is pinned by the review.
	CASHA256 string `json:"ca_sha256"`
	// ClientCertSHA256 and ClientKeySHA256 are hex SHA-256 hashes of the
	// client pair's files. The key itself is read again from
	// ClientKeyFile on the controller when the plan is applied.
	ClientCertSHA256 string `json:"client_cert_sha256,omitempty"`
	ClientKeyFile    string `json:"client_key_file,omitempty"`
	ClientKeySHA256  string `json:"client_key_sha256,omitempty"`
}

// PlanHost is the planned work on one host.
type PlanHost struct {
	Host string `json:"host"`
	// Status is the host's status in the check: changed when there is
	// work to apply, ok when there is none, failed or unreachable when
	// the plan could not be made for it.
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// StateSHA256 is the hash of the host's gathered state that the
	// changes were planned from.
	StateSHA256 string `json:"state_sha256,omitempty"`
	// TasksSHA256 is the hash of every task outcome of the check, so that
	// apply can tell whether the same tasks still plan the same changes.
	TasksSHA256 string       `json:"tasks_sha256,omitempty"`
	Changes     []TaskReport `json:"changes"`
}

// NewPlan builds the plan of a check run of pb. inventories are the
// paths the run loaded, and opts the options it ran with.
func NewPlan(pb *Playbook, inventories []string, opts Options, rep *Report) (*Plan, error) {
	if !rep.Check {
		return nil, errors.New("make plan: the run was not a check; a plan comes only from --check")
	}
	abs, err := filepath.Abs(pb.File)
	if err != nil {
		return nil, fmt.Errorf("make plan: %w", err)
	}
	plan := &Plan{
		Format:      planFormat,
		Created:     time.Now().UTC().Truncate(time.Second),
		Playbook:    abs,
		PlaybookSHA: pb.SHA256,
		Limit:       opts.Limit,
		Shard:       opts.Shard.String(),
		Registries:  []PlanRegistry{},
		Hosts:       []PlanHost{},
	}
	for _, inv := range inventories {
		a, err := filepath.Abs(inv)
		if err != nil {
			return nil, fmt.Errorf("make plan: %w", err)
		}
		plan.Inventories = append(plan.Inventories, a)
	}
	for i, play := range pb.Plays {
		for _, name := range play.RegistryOrder {
			r := play.Registries[name]
			if r.CA == nil {
				continue // no selected host uses it
			}
			pr := PlanRegistry{Play: i, Name: name, Address: r.Address, CASHA256: r.CA.SHA256}
			if r.ClientKey != nil {
				pr.ClientCertSHA256 = sha256Hex(r.ClientCert)
				pr.ClientKeyFile = r.ClientKeyFile
				pr.ClientKeySHA256 = sha256Hex(r.ClientKey)
			}
			plan.Registries = append(plan.Registries, pr)
		}
	}
	for _, h := range rep.Hosts {
		ph := PlanHost{Host: h.Host, Status: h.Status, Error: h.Error, StateSHA256: h.StateSHA256, Changes: []TaskReport{}}
		if h.StateSHA256 != "" && (h.Status == StatusOK || h.Status == StatusChanged) {
			ph.TasksSHA256 = tasksSHA256(h)
		}
		for _, t := range h.Tasks {
			if t.Status == StatusChanged {
				ph.Changes = append(ph.Changes, t)
			}
		}
		plan.Hosts = append(plan.Hosts, ph)
	}
	return plan, nil
}

// tasksSHA256 hashes every task outcome and the handlers of a host's
// report, the part of a check that apply must reproduce.
func tasksSHA256(h *HostReport) string {
	data, _ := json.Marshal(struct {
		Tasks    []TaskReport `json:"tasks"`
		Handlers []string     `json:"handlers"`
	}{h.Tasks, h.Handlers})
	return sha256Hex(data)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Write saves the plan to file atomically, readable only by its owner:
// it names hosts, paths and the planned changes of a fleet.
func (p *Plan) Write(file string) error {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	if err := atomicfile.Write(file, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	return nil
}

// ReadPlan reads and checks a plan file written by Plan.Write.
func ReadPlan(file string) (*Plan, error) {
	info, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	if info.Size() > maxPlanSize {
		return nil, fmt.Errorf("read plan %s: it is %d bytes, more than the %d a plan may have", file, info.Size(), maxPlanSize)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	var p Plan
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("read plan %s: invalid plan file: %w; make a new plan with regtrust run --plan", file, err)
	}
	if p.Format != planFormat {
		return nil, fmt.Errorf("read plan %s: format %d, but this regtrust reads format %d; make a new plan with this regtrust", file, p.Format, planFormat)
	}
	if p.Playbook == "" || p.PlaybookSHA == "" || len(p.Inventories) == 0 {
		return nil, fmt.Errorf("read plan %s: the playbook or inventory is missing; make a new plan with regtrust run --plan", file)
	}
	if p.Shard != "" {
		if _, err := inventory.ParseShard(p.Shard); err != nil {
			return nil, fmt.Errorf("read plan %s: %w", file, err)
		}
	}
	return &p, nil
}

// host returns the planned work on the host name, or nil.
func (p *Plan) host(name string) *PlanHost {
	if p == nil {
		return nil
	}
	for i := range p.Hosts {
		if p.Hosts[i].Host == name {
			return &p.Hosts[i]
		}
	}
	return nil
}

// CheckPlaybook rejects a playbook that is not the one the plan was
// made from.
func (p *Plan) CheckPlaybook(pb *Playbook) error {
	if pb.SHA256 != p.PlaybookSHA {
		return fmt.Errorf("playbook %s changed since the plan was made (SHA-256 was %s, is now %s); review the change and make a new plan", pb.File, p.PlaybookSHA, pb.SHA256)
	}
	return nil
}

// checkRegistries rejects the run when a registry's CA or client pair
// differs from the plan's. It runs after the CAs are resolved and before
// any host is contacted, because such a change would reach every host.
func (p *Plan) checkRegistries(pb *Playbook) error {
	for _, pr := range p.Registries {
		if pr.Play < 0 || pr.Play >= len(pb.Plays) {
			return fmt.Errorf("plan names play %d, but the playbook has %d plays; make a new plan", pr.Play, len(pb.Plays))
		}
		r := pb.Plays[pr.Play].Registries[pr.Name]
		if r == nil {
			return fmt.Errorf("registry %s of play %d is in the plan but not in the playbook; make a new plan", pr.Name, pr.Play)
		}
		if r.CA == nil {
			continue // no host of this apply uses it
		}
		if r.CA.SHA256 != pr.CASHA256 {
			return fmt.Errorf("registry %s: the CA is now %s, but the plan was made with %s; review the new CA and make a new plan", pr.Name, r.CA.SHA256, pr.CASHA256)
		}
		if got := hashOrEmpty(r.ClientCert); got != pr.ClientCertSHA256 {
			return fmt.Errorf("registry %s: client_cert %s changed since the plan was made; make a new plan", pr.Name, r.ClientCertFile)
		}
		if got := hashOrEmpty(r.ClientKey); got != pr.ClientKeySHA256 {
			return fmt.Errorf("registry %s: client_key %s changed since the plan was made; make a new plan", pr.Name, r.ClientKeyFile)
		}
	}
	return nil
}

// selectPlanned keeps the hosts that the plan has changes for. It
// returns a failed report for each such host that the playbook and
// inventory no longer select, and notes the hosts that the plan could
// not be made for, which apply skips.
func selectPlanned(plans []*hostPlan, p *Plan, notes io.Writer) ([]*hostPlan, []*HostReport) {
	selected := map[string]*hostPlan{}
	for _, hp := range plans {
		selected[hp.host.Name] = hp
	}
	var kept []*hostPlan
	var rejected []*HostReport
	unchanged := 0
	for _, ph := range p.Hosts {
		switch ph.Status {
		case StatusChanged:
		case StatusOK:
			unchanged++
			continue
		default:
			fmt.Fprintf(notes, "plan: %s was %s when the plan was made, so it is skipped\n", ph.Host, ph.Status)
			continue
		}
		hp := selected[ph.Host]
		if hp == nil {
			rejected = append(rejected, &HostReport{
				Host: ph.Host, Status: StatusFailed, Tasks: []TaskReport{}, Handlers: []string{},
				Error: "rejected: the playbook and inventory no longer select this host; make a new plan",
			})
			continue
		}
		kept = append(kept, hp)
	}
	if unchanged > 0 {
		fmt.Fprintf(notes, "plan: %d hosts had nothing to change and are not contacted\n", unchanged)
	}
	// Keep inventory order, which is the order of plans.
	order := map[*hostPlan]int{}
	for i, hp := range plans {
		order[hp] = i
	}
	sort.Slice(kept, func(i, j int) bool { return order[kept[i]] < order[kept[j]] })
	return kept, rejected
}

// checkPlanned rejects a host whose state or planned changes differ from
// the plan. The changes are checked on a fork of the target, so the state
// is gathered once and nothing is written unless it matches.
func checkPlanned(ctx context.Context, hp *hostPlan, t *tasks.Target) error {
	want := hp.planned
	if got := t.StateSHA256(); got != want.StateSHA256 {
		return fmt.Errorf("rejected: the host's state changed since the plan was made (state SHA-256 %.12s in the plan, %.12s now); make a new plan", want.StateSHA256, got)
	}
	fork := t.Fork(false)
	scratch := &HostReport{Host: hp.host.Name, Status: StatusOK, Tasks: []TaskReport{}, Handlers: []string{}}
	claimed := map[string]bool{}
	for _, play := range hp.plays {
		fork.Vars = play.varsFor(hp.host)
		if !runPlay(ctx, play, fork, scratch, claimPending(play, fork.PendingHandlers(), claimed), noStop) {
			break
		}
	}
	if tasksSHA256(scratch) != want.TasksSHA256 {
		return fmt.Errorf("rejected: the tasks now plan other changes for this host than the plan has, because the inventory or a file the playbook reads changed; make a new plan")
	}
	return nil
}

func hashOrEmpty(b []byte) string {
	if b == nil {
		return ""
	}
	return sha256Hex(b)
}
