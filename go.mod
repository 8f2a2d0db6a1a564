module github.com/regtrust/regtrust

go 1.26.8

require (
	github.com/aymanbagabas/go-udiff v0.4.2
	github.com/bramvdbogaerde/go-scp v1.6.1 // indirect
	github.com/sourcegraph/conc v0.3.0 // indirect
	go.uber.org/goleak v1.3.0 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
