// A stand-in for hashicorp/random with the part of it that test configurations use:
// `random_pet` (prefix, length, separator, and keepers whose change replaces it).
// Built by scripts/go-tools.sh into the provider mirror the test runners use.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	pschema "github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
)

// Set by the build (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	debug := flag.Bool("debug", false, "run with support for debuggers")
	flag.Parse()
	err := providerserver.Serve(context.Background(), func() provider.Provider { return randomProvider{} },
		providerserver.ServeOpts{Address: "registry.terraform.io/hashicorp/random", Debug: *debug, ProtocolVersion: 6})
	if err != nil {
		log.Fatal(err)
	}
}

type randomProvider struct{}

func (randomProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "random"
	resp.Version = version
}

func (randomProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = pschema.Schema{}
}

func (randomProvider) Configure(context.Context, provider.ConfigureRequest, *provider.ConfigureResponse) {
}

func (randomProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{func() resource.Resource { return petResource{} }}
}

func (randomProvider) DataSources(context.Context) []func() datasource.DataSource { return nil }
