variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cache."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets, one per AZ."
  type        = list(string)
}

variable "client_security_group_id" {
  description = "Security group of the orderflow tasks, the only clients."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for encryption at rest and the log group."
  type        = string
}

variable "engine_version" {
  description = "Redis engine version."
  type        = string
}

variable "node_type" {
  description = "Cache node type."
  type        = string
}

variable "auth_token" {
  description = "Redis AUTH token (from Secrets Manager; never in tfvars)."
  type        = string
  sensitive   = true
}
