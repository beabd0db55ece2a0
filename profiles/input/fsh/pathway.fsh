Instance: oncolink-pathway
InstanceOf: PlanDefinition
Usage: #definition
Title: "Parcours Onco'Link"
Description: "Épisode de dix mois en trois séquences, avec retrait progressif de l'équipe hospitalière au profit de l'officine et du médecin traitant. Les forfaits sont dus par séquence commencée, quelle qu'en soit la durée effective."
* url = "https://oncolink.example.org/fhir/PlanDefinition/oncolink-pathway"
* version = "1.0.0"
* name = "OncoLinkPathway"
* status = #active
* experimental = false
* type = http://terminology.hl7.org/CodeSystem/plan-definition-type#clinical-protocol
* subjectCodeableConcept.text = "Patient atteint d'un cancer solide ou hématologique, traité à domicile par anticancéreux oral (hors hormonothérapie adjuvante et hospitalisation à domicile)"
* publisher = "Projet Onco'Link FHIR"
* purpose = "Sécuriser le traitement à domicile : observance, interactions, effets indésirables, coordination ville-hôpital."
* action[0].id = "sequence-1"
* action[=].prefix = "1"
* action[=].title = "Séquence 1 — initiation"
* action[=].description = "Primo-prescription hospitalière, éducation thérapeutique, primo-dispensation et surveillance initiale."
* action[=].code = $sequence-cs#1
* action[=].timingDuration = 1 'mo' "mois"
* action[+].id = "sequence-2"
* action[=].prefix = "2"
* action[=].title = "Séquence 2 — suivi"
* action[=].description = "Renouvellement du traitement et suivi : observance, interactions, effets indésirables, coordination ville-hôpital. Renouvelable."
* action[=].code = $sequence-cs#2
* action[=].timingDuration = 3 'mo' "mois"
* action[=].relatedAction.actionId = "sequence-1"
* action[=].relatedAction.relationship = #after-end
* action[+].id = "sequence-3"
* action[=].prefix = "3"
* action[=].title = "Séquence 3 — suivi prolongé"
* action[=].description = "Même contenu que la séquence 2, sur six mois renouvelables, seulement si le traitement le permet."
* action[=].code = $sequence-cs#3
* action[=].timingDuration = 6 'mo' "mois"
* action[=].relatedAction.actionId = "sequence-2"
* action[=].relatedAction.relationship = #after-end
* action[=].condition.kind = #applicability
* action[=].condition.expression.language = #text/fhirpath
* action[=].condition.expression.expression = "%context.extension.where(url = 'https://oncolink.example.org/fhir/StructureDefinition/oncolink-sequence3-allowed').value = true"
* action[=].condition.expression.description = "Le traitement permet la séquence 3."
* action[+].id = "telesurveillance"
* action[=].title = "Télésurveillance hebdomadaire"
* action[=].description = "Questionnaire hebdomadaire, tri des réponses par couleur, alerte à l'infirmière et message au patient selon le type d'alerte. Facturée au mois, six mois consécutifs au plus par prescription."
* action[=].definitionCanonical = $pro-questionnaire
* action[=].timingTiming.repeat.frequency = 1
* action[=].timingTiming.repeat.period = 1
* action[=].timingTiming.repeat.periodUnit = #wk
