module local/istio-crds

go 1.25
