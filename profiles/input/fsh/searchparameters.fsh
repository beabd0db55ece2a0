// Search parameters the pathway and the pharmacy software need beyond R4 core.

RuleSet: OncoLinkSearchParameter(code, name)
* status = #active
* experimental = false
* publisher = "Projet Onco'Link FHIR"
* code = #{code}
* name = "{name}"

Instance: oncolink-careplan-care-team
InstanceOf: SearchParameter
Usage: #definition
Title: "Membre de l'équipe de soins d'un plan"
* insert OncoLinkSearchParameter(care-team, OncoLinkCarePlanCareTeam)
* url = "https://oncolink.example.org/fhir/SearchParameter/oncolink-careplan-care-team"
* description = "L'équipe de soins référencée, ou tout membre de l'équipe contenue dans le plan (officine, médecin traitant, service hospitalier). Étend le paramètre care-team de FHIR R4 pour la récupération des plans par les officines."
* derivedFrom = "http://hl7.org/fhir/SearchParameter/CarePlan-care-team"
* base = #CarePlan
* type = #reference
* expression = "CarePlan.careTeam | CarePlan.contained.ofType(CareTeam).participant.member"
* xpathUsage = #normal
* target[0] = #CareTeam
* target[+] = #Organization
* target[+] = #Practitioner
* target[+] = #PractitionerRole
* target[+] = #Patient
* target[+] = #RelatedPerson

Instance: oncolink-parcours
InstanceOf: SearchParameter
Usage: #definition
Title: "Parcours A/B"
* insert OncoLinkSearchParameter(parcours, OncoLinkParcours)
* url = "https://oncolink.example.org/fhir/SearchParameter/oncolink-parcours"
* description = "Parcours A ou B d'un épisode ou d'un forfait."
* base[0] = #CarePlan
* base[+] = #ChargeItem
* type = #token
* expression = "CarePlan.extension.where(url = 'https://oncolink.example.org/fhir/StructureDefinition/oncolink-parcours').value | ChargeItem.extension.where(url = 'https://oncolink.example.org/fhir/StructureDefinition/oncolink-parcours').value"
* xpathUsage = #normal

Instance: oncolink-sequence
InstanceOf: SearchParameter
Usage: #definition
Title: "Numéro de séquence"
* insert OncoLinkSearchParameter(sequence, OncoLinkSequenceNumber)
* url = "https://oncolink.example.org/fhir/SearchParameter/oncolink-sequence"
* description = "Séquence en cours d'un épisode, séquence d'un plan de séquence ou séquence facturée."
* base[0] = #CarePlan
* base[+] = #ChargeItem
* type = #token
* expression = "CarePlan.extension.where(url = 'https://oncolink.example.org/fhir/StructureDefinition/oncolink-sequence-number').value | ChargeItem.extension.where(url = 'https://oncolink.example.org/fhir/StructureDefinition/oncolink-sequence-number').value"
* xpathUsage = #normal

Instance: oncolink-alert-colour
InstanceOf: SearchParameter
Usage: #definition
Title: "Couleur d'alerte"
* insert OncoLinkSearchParameter(alert-colour, OncoLinkAlertColour)
* url = "https://oncolink.example.org/fhir/SearchParameter/oncolink-alert-colour"
* description = "Couleur attribuée par le tri à une réponse, un signalement ou une tâche."
* base[0] = #QuestionnaireResponse
* base[+] = #Flag
* base[+] = #Task
* type = #token
* expression = "QuestionnaireResponse.extension.where(url = 'https://oncolink.example.org/fhir/StructureDefinition/oncolink-alert-colour').value | Flag.extension.where(url = 'https://oncolink.example.org/fhir/StructureDefinition/oncolink-alert-colour').value | Task.extension.where(url = 'https://oncolink.example.org/fhir/StructureDefinition/oncolink-alert-colour').value"
* xpathUsage = #normal

Instance: oncolink-hospital-reserve
InstanceOf: SearchParameter
Usage: #definition
Title: "Réserve hospitalière"
* insert OncoLinkSearchParameter(hospital-reserve, OncoLinkHospitalReserve)
* url = "https://oncolink.example.org/fhir/SearchParameter/oncolink-hospital-reserve"
* description = "Prescriptions de médicaments en réserve hospitalière (true) ou dispensables en officine (false)."
* base = #MedicationRequest
* type = #token
* expression = "MedicationRequest.extension.where(url = 'https://oncolink.example.org/fhir/StructureDefinition/oncolink-hospital-reserve').value"
* xpathUsage = #normal

Instance: oncolink-actor-share
InstanceOf: SearchParameter
Usage: #definition
Title: "Bénéficiaire d'un forfait"
* insert OncoLinkSearchParameter(actor-share, OncoLinkActorShare)
* url = "https://oncolink.example.org/fhir/SearchParameter/oncolink-actor-share"
* description = "Part de forfait : établissement, officine, médecin traitant ou opérateur de télésurveillance."
* base = #ChargeItem
* type = #token
* expression = "ChargeItem.performer.function"
* xpathUsage = #normal

Instance: oncolink-chargeitem-due
InstanceOf: SearchParameter
Usage: #definition
Title: "Date d'exigibilité d'un forfait"
* insert OncoLinkSearchParameter(due, OncoLinkChargeItemDue)
* url = "https://oncolink.example.org/fhir/SearchParameter/oncolink-chargeitem-due"
* description = "Date à laquelle le forfait est dû : début de sa période (séquence commencée, mois de télésurveillance). Un forfait est facturé le mois où il est dû : due=2026-01."
* base = #ChargeItem
* type = #date
* expression = "(ChargeItem.occurrence as Period).start | (ChargeItem.occurrence as dateTime)"
* xpathUsage = #normal
