package graph

import (
	"context"

	"github.com/google/uuid"
	"github.com/vikstrous/dataloadgen"

	"channelhub/internal/party"
	"channelhub/internal/visit"
)

// visitLoaders batch the edges of visits, audits and KPIs.
type visitLoaders struct {
	user     *dataloadgen.Loader[uuid.UUID, *party.User] // unscoped: the salesman of a visit or KPI in scope
	audits   *dataloadgen.Loader[uuid.UUID, []*visit.Audit]
	template *dataloadgen.Loader[uuid.UUID, *visit.Template]
}

func (r *Resolver) newVisitLoaders() *visitLoaders {
	o := r.batchOpts()
	if r.VisitService == nil {
		return nil
	}
	return &visitLoaders{
		user:     byID(o, r.VisitService.UsersByID),
		audits:   byID(o, r.VisitService.AuditsOfVisits),
		template: byID(o, r.VisitService.TemplatesByID),
	}
}

func visitLoadersFrom(ctx context.Context) *visitLoaders { return loadersFrom(ctx).visit }
