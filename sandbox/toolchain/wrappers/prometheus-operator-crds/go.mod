module local/prometheus-operator-crds

go 1.25
