"""AWS Direct Connect customer routers: platform capabilities, derived BGP policy, AWS import."""
