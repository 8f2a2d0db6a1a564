package lab

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"time"
)

// Media types of a Docker image manifest, schema version 2.
const (
	mediaManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaConfig   = "application/vnd.docker.container.image.v1+json"
	mediaLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// seedRepository and seedTag name the image every lab registry holds.
const (
	seedRepository = "lab/hello"
	seedTag        = "1"
)

// seedFileContent is the content of /hello.txt in the seeded image.
const seedFileContent = "hello from the regtrust lab registry\n"

// seedTime fixes every timestamp in the image so that its digests are
// the same in every lab.
var seedTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type descriptor struct {
	MediaType string `json:"mediaType"`
	Size      int    `json:"size"`
	Digest    string `json:"digest"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

// image is a tiny image: one gzip layer with one file, its config and
// the manifest that points to both.
type image struct {
	layer, config, manifest []byte
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// buildImage builds the seed image for the machine's architecture, so
// a lab dockerd pulls it without a platform mismatch.
func buildImage() (*image, error) {
	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	hdr := &tar.Header{
		Name:     "hello.txt",
		Mode:     0o644,
		Size:     int64(len(seedFileContent)),
		ModTime:  seedTime,
		Typeflag: tar.TypeReg,
		Format:   tar.FormatPAX,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("write layer tar header: %w", err)
	}
	if _, err := io.WriteString(tw, seedFileContent); err != nil {
		return nil, fmt.Errorf("write layer tar: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close layer tar: %w", err)
	}

	var layer bytes.Buffer
	zw := gzip.NewWriter(&layer)
	if _, err := zw.Write(layerTar.Bytes()); err != nil {
		return nil, fmt.Errorf("compress layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress layer: %w", err)
	}

	// The config's diff_ids are digests of the uncompressed layer;
	// dockerd checks them after it unpacks the layer.
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"created":      seedTime,
		"config":       map[string]any{"Cmd": []string{"/hello.txt"}},
		"rootfs": map[string]any{
			"type":     "layers",
			"diff_ids": []string{digestOf(layerTar.Bytes())},
		},
		"history": []map[string]any{{"created": seedTime, "created_by": "regtrust lab seed"}},
	})
	if err != nil {
		return nil, fmt.Errorf("encode image config: %w", err)
	}

	m, err := json.Marshal(manifest{
		SchemaVersion: 2,
		MediaType:     mediaManifest,
		Config:        descriptor{MediaType: mediaConfig, Size: len(config), Digest: digestOf(config)},
		Layers:        []descriptor{{MediaType: mediaLayer, Size: layer.Len(), Digest: digestOf(layer.Bytes())}},
	})
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return &image{layer: layer.Bytes(), config: config, manifest: m}, nil
}

// seed pushes the seed image through the registry HTTP API: one
// monolithic upload per blob, then the manifest under its tag.
func (r *Registry) seed(ctx context.Context) error {
	img, err := buildImage()
	if err != nil {
		return err
	}
	for _, blob := range [][]byte{img.layer, img.config} {
		if err := r.pushBlob(ctx, seedRepository, blob); err != nil {
			return err
		}
	}
	u := fmt.Sprintf("https://%s/v2/%s/manifests/%s", r.Address, seedRepository, seedTag)
	_, err = r.do(ctx, http.MethodPut, u, mediaManifest, img.manifest, http.StatusCreated)
	if err != nil {
		return fmt.Errorf("push manifest %s: %w", r.Image, err)
	}
	return nil
}

func (r *Registry) pushBlob(ctx context.Context, repo string, blob []byte) error {
	digest := digestOf(blob)
	start := fmt.Sprintf("https://%s/v2/%s/blobs/uploads/", r.Address, repo)
	resp, err := r.do(ctx, http.MethodPost, start, "", nil, http.StatusAccepted)
	if err != nil {
		return fmt.Errorf("start upload of %s: %w", digest, err)
	}
	base, err := url.Parse(start)
	if err != nil {
		return fmt.Errorf("parse upload url %q: %w", start, err)
	}
	loc, err := base.Parse(resp.Header.Get("Location"))
	if err != nil {
		return fmt.Errorf("parse upload location %q: %w", resp.Header.Get("Location"), err)
	}
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	if _, err := r.do(ctx, http.MethodPut, loc.String(), "application/octet-stream", blob, http.StatusCreated); err != nil {
		return fmt.Errorf("upload blob %s: %w", digest, err)
	}
	return nil
}

// do sends one request and checks the status. It returns the response
// with its body already read and closed.
func (r *Registry) do(ctx context.Context, method, u, contentType string, body []byte, want int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: status %s, want %d: %s", method, u, resp.Status, want, bytes.TrimSpace(msg))
	}
	return resp, nil
}
