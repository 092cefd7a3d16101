variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "region" {
  description = "AWS region, for the VPC endpoint service names."
  type        = string
}

variable "cidr" {
  description = "CIDR block of the VPC; split into 3 public and 3 private subnets."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the flow-log group."
  type        = string
}

variable "availability_zones" {
  description = "The three availability zones of the subnets."
  type        = list(string)
  validation {
    condition     = length(var.availability_zones) == 3
    error_message = "Give exactly three availability zones."
  }
}
