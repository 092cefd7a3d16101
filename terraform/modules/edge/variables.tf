variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the load balancer."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC (where the ingress tasks run)."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets of the load balancer."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate of the HTTPS listener."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the WAF log group."
  type        = string
}

variable "rate_limit_per_5_minutes" {
  description = "Requests one IP may make in 5 minutes before WAF blocks it."
  type        = number
}
