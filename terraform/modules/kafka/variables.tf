variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC (broker-to-broker traffic)."
  type        = string
}

variable "subnet_ids" {
  description = "Three private subnets, one per AZ."
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

variable "kafka_version" {
  description = "Apache Kafka version of the cluster."
  type        = string
}

variable "instance_type" {
  description = "Broker instance type."
  type        = string
}

variable "volume_size_gb" {
  description = "EBS storage per broker, in GiB."
  type        = number
}

variable "partitions" {
  description = "Default partition count: the most processor tasks that can share the work."
  type        = number
}

variable "scram_secret_arn" {
  description = "Secrets Manager secret (AmazonMSK_ prefix) with the SCRAM username and password."
  type        = string
}
