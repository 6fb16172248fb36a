package main

import (
	"context"
	"math/rand/v2"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

type petResource struct{}

type petModel struct {
	ID        types.String `tfsdk:"id"`
	Keepers   types.Map    `tfsdk:"keepers"`
	Length    types.Int64  `tfsdk:"length"`
	Prefix    types.String `tfsdk:"prefix"`
	Separator types.String `tfsdk:"separator"`
}

func (petResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_pet"
}

func (petResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replaceString := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		Description: "A random pet name: adverbs, an adjective and a name, joined by a separator.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"keepers": schema.MapAttribute{
				ElementType:   types.StringType,
				Optional:      true,
				PlanModifiers: []planmodifier.Map{mapplanmodifier.RequiresReplace()},
			},
			"length": schema.Int64Attribute{
				Optional:      true,
				Computed:      true,
				Default:       int64default.StaticInt64(2),
				Validators:    []validator.Int64{int64validator.AtLeast(1)},
				PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()},
			},
			"prefix": schema.StringAttribute{Optional: true, PlanModifiers: replaceString},
			"separator": schema.StringAttribute{
				Optional:      true,
				Computed:      true,
				Default:       stringdefault.StaticString("-"),
				PlanModifiers: replaceString,
			},
		},
	}
}

func (petResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var model petModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &model)...)
	if resp.Diagnostics.HasError() {
		return
	}
	words := petName(int(model.Length.ValueInt64()), rand.IntN)
	if prefix := model.Prefix.ValueString(); !model.Prefix.IsNull() {
		words = append([]string{prefix}, words...)
	}
	model.ID = types.StringValue(strings.Join(words, model.Separator.ValueString()))
	resp.Diagnostics.Append(resp.State.Set(ctx, &model)...)
}

// Read keeps the state as it is: the name exists nowhere else.
func (petResource) Read(context.Context, resource.ReadRequest, *resource.ReadResponse) {}

// Update is never planned (every argument replaces), but the protocol wants one.
func (petResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var model petModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &model)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &model)...)
}

func (petResource) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {}

// petName is `length` words: a name last, an adjective before it, adverbs before that.
// pick(n) returns a number in [0, n).
func petName(length int, pick func(int) int) []string {
	words := make([]string, length)
	for i := range words {
		list := adverbs
		switch length - i {
		case 1:
			list = names
		case 2:
			list = adjectives
		}
		words[i] = list[pick(len(list))]
	}
	return words
}

var adverbs = []string{
	"boldly", "briskly", "calmly", "cheerfully", "deeply", "eagerly", "evenly", "fairly",
	"gently", "gladly", "happily", "kindly", "lightly", "loudly", "neatly", "openly",
	"politely", "quickly", "quietly", "rarely", "really", "slowly", "softly", "warmly",
}

var adjectives = []string{
	"amber", "brave", "bright", "clever", "crisp", "curious", "daring", "eager", "fancy",
	"gentle", "golden", "humble", "jolly", "keen", "lively", "lucky", "merry", "nimble",
	"proud", "quiet", "rapid", "sunny", "tidy", "witty",
}

var names = []string{
	"badger", "beaver", "bison", "crane", "dingo", "eagle", "ferret", "finch", "gecko",
	"heron", "ibex", "koala", "lemur", "lynx", "marten", "moose", "otter", "owl", "panda",
	"puffin", "quail", "raven", "seal", "walrus",
}
