// The standalone CRD API server of Kubernetes (k8s.io/apiextensions-apiserver), built as
// upstream builds its own main: consort's Kubernetes Spark backend is tested against it
// (etcd + this server + the SparkApplication CRD in crds/). Nothing here is consort code
// beyond these lines; the version is pinned in go.mod.
package main

import (
	"os"

	"k8s.io/apiextensions-apiserver/pkg/cmd/server"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/component-base/cli"
)

func main() {
	ctx := genericapiserver.SetupSignalContext()
	cmd := server.NewServerCommand(ctx, os.Stdout, os.Stderr)
	os.Exit(cli.Run(cmd))
}
