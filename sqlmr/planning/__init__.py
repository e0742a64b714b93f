"""Planning: the logical query becomes a plan of map and reduce stages (planner), cut into splits,
rendered by explain and priced by the cost estimate."""
