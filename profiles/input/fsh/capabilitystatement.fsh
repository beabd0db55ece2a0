RuleSet: SupportedResource(type)
* rest[0].resource[+].type = #{type}
* rest[0].resource[=].interaction[0].code = #read
* rest[0].resource[=].interaction[+].code = #vread
* rest[0].resource[=].interaction[+].code = #update
* rest[0].resource[=].interaction[+].code = #patch
* rest[0].resource[=].interaction[+].code = #delete
* rest[0].resource[=].interaction[+].code = #history-instance
* rest[0].resource[=].interaction[+].code = #history-type
* rest[0].resource[=].interaction[+].code = #create
* rest[0].resource[=].interaction[+].code = #search-type
* rest[0].resource[=].versioning = #versioned-update
* rest[0].resource[=].readHistory = true
* rest[0].resource[=].updateCreate = true
* rest[0].resource[=].conditionalCreate = true
* rest[0].resource[=].conditionalUpdate = true
* rest[0].resource[=].conditionalDelete = #single
* rest[0].resource[=].operation[0].name = "validate"
* rest[0].resource[=].operation[=].definition = "http://hl7.org/fhir/OperationDefinition/Resource-validate"

RuleSet: SearchParam(name, definition, type)
* rest[0].resource[=].searchParam[+].name = "{name}"
* rest[0].resource[=].searchParam[=].definition = "{definition}"
* rest[0].resource[=].searchParam[=].type = #{type}

Instance: oncolink-server
InstanceOf: CapabilityStatement
Usage: #definition
Title: "Serveur Onco'Link"
Description: "Ce que le serveur Onco'Link garantit aux logiciels hospitaliers, aux logiciels d'officine et aux intégrateurs : profils validés à l'écriture, opération $validate, recherches du parcours."
* url = "https://oncolink.example.org/fhir/CapabilityStatement/oncolink-server"
* version = "0.1.0"
* name = "OncoLinkServer"
* status = #active
* experimental = false
* date = "2025-11-23"
* publisher = "Projet Onco'Link FHIR"
* kind = #requirements
* fhirVersion = #4.0.1
* format[0] = #json
* format[+] = #application/fhir+json
* rest[0].mode = #server
* rest[0].documentation = "Les écritures qui déclarent un profil Onco'Link dans meta.profile sont refusées (422) si elles ne le respectent pas."
* rest[0].interaction[0].code = #transaction
* rest[0].interaction[+].code = #batch
* rest[0].interaction[+].code = #history-system
* rest[0].interaction[+].code = #search-system
* insert SupportedResource(Patient)
* rest[0].resource[=].supportedProfile = Canonical(OncoLinkPatient)
* insert SearchParam(identifier, http://hl7.org/fhir/SearchParameter/Patient-identifier, token)
* insert SearchParam(name, http://hl7.org/fhir/SearchParameter/Patient-name, string)
* insert SearchParam(birthdate, http://hl7.org/fhir/SearchParameter/individual-birthdate, date)
* insert SupportedResource(Practitioner)
* rest[0].resource[=].supportedProfile = Canonical(OncoLinkPrescriber)
* insert SearchParam(identifier, http://hl7.org/fhir/SearchParameter/Practitioner-identifier, token)
* insert SupportedResource(CareTeam)
* rest[0].resource[=].supportedProfile = Canonical(OncoLinkCareTeam)
* insert SupportedResource(CarePlan)
* rest[0].resource[=].supportedProfile[0] = Canonical(OncoLinkEpisode)
* rest[0].resource[=].supportedProfile[+] = Canonical(OncoLinkSequenceCarePlan)
* rest[0].resource[=].searchInclude = "CarePlan:activity-reference"
* insert SearchParam(status, http://hl7.org/fhir/SearchParameter/CarePlan-status, token)
* insert SearchParam(subject, http://hl7.org/fhir/SearchParameter/CarePlan-subject, reference)
* insert SearchParam(care-team, https://oncolink.example.org/fhir/SearchParameter/oncolink-careplan-care-team, reference)
* insert SearchParam(part-of, http://hl7.org/fhir/SearchParameter/CarePlan-part-of, reference)
* insert SearchParam(parcours, https://oncolink.example.org/fhir/SearchParameter/oncolink-parcours, token)
* insert SearchParam(due, https://oncolink.example.org/fhir/SearchParameter/oncolink-chargeitem-due, date)
* insert SearchParam(sequence, https://oncolink.example.org/fhir/SearchParameter/oncolink-sequence, token)
* insert SupportedResource(MedicationRequest)
* rest[0].resource[=].supportedProfile = Canonical(OncoLinkOralAnticancerRequest)
* insert SearchParam(subject, http://hl7.org/fhir/SearchParameter/MedicationRequest-subject, reference)
* insert SearchParam(status, http://hl7.org/fhir/SearchParameter/medications-status, token)
* insert SearchParam(hospital-reserve, https://oncolink.example.org/fhir/SearchParameter/oncolink-hospital-reserve, token)
* insert SupportedResource(QuestionnaireResponse)
* rest[0].resource[=].supportedProfile = Canonical(OncoLinkWeeklyPRO)
* insert SearchParam(subject, http://hl7.org/fhir/SearchParameter/QuestionnaireResponse-subject, reference)
* insert SearchParam(alert-colour, https://oncolink.example.org/fhir/SearchParameter/oncolink-alert-colour, token)
* insert SupportedResource(Flag)
* rest[0].resource[=].supportedProfile = Canonical(OncoLinkAlertFlag)
* insert SearchParam(alert-colour, https://oncolink.example.org/fhir/SearchParameter/oncolink-alert-colour, token)
* insert SupportedResource(Task)
* rest[0].resource[=].supportedProfile = Canonical(OncoLinkAlertTask)
* insert SearchParam(alert-colour, https://oncolink.example.org/fhir/SearchParameter/oncolink-alert-colour, token)
* insert SupportedResource(Communication)
* rest[0].resource[=].supportedProfile = Canonical(OncoLinkMessage)
* insert SupportedResource(ChargeItem)
* rest[0].resource[=].supportedProfile = Canonical(OncoLinkForfaitChargeItem)
* insert SearchParam(actor-share, https://oncolink.example.org/fhir/SearchParameter/oncolink-actor-share, token)
* insert SearchParam(parcours, https://oncolink.example.org/fhir/SearchParameter/oncolink-parcours, token)
* insert SearchParam(due, https://oncolink.example.org/fhir/SearchParameter/oncolink-chargeitem-due, date)
